// Progressive enhancement only: every page works without this script.

// Times in the person's own time zone. The server renders them in the zone this cookie names
// (UTC before it is set); on a first visit the script rewrites the times already on the page.
(function () {
  var zone;
  try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) { return; }
  if (!zone) { return; }
  var want = "tz=" + encodeURIComponent(zone);
  if (document.cookie.split("; ").indexOf(want) !== -1) { return; }
  document.cookie = want + "; path=/; max-age=31536000; samesite=lax";
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("time[data-local]").forEach(function (el) {
      var at = new Date(el.getAttribute("datetime"));
      if (isNaN(at)) { return; }
      el.textContent = at.getFullYear() + "-" + pad(at.getMonth() + 1) + "-" + pad(at.getDate()) + " " +
        pad(at.getHours()) + ":" + pad(at.getMinutes());
    });
    var note = document.querySelector("[data-zone]");
    if (note) { note.textContent = zone; }
  });
})();
