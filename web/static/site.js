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

// A claim's page follows the claim: when someone else acts, the page shows the claim as it now
// stands, without a reload (forms someone is filling in are left alone).
(function () {
  var live = document.querySelector("[data-live]");
  if (!live || !window.fetch || !window.DOMParser) { return; }
  var id = live.getAttribute("data-live");
  var version = live.getAttribute("data-version");
  var typing = false;
  document.addEventListener("input", function () { typing = true; });
  function swap(fresh, selector) {
    var now = document.querySelector(selector), next = fresh.querySelector(selector);
    if (now && next) { now.replaceWith(next); return true; }
    if (now && !next) { now.remove(); }
    return false;
  }
  setInterval(function () {
    if (document.hidden) { return; }
    fetch("/cases/" + encodeURIComponent(id) + "/version", { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (v) {
        if (!v || v.version === version) { return null; }
        version = v.version;
        return fetch("/cases/" + encodeURIComponent(id), { credentials: "same-origin" })
          .then(function (r) { return r.text(); })
          .then(function (html) {
            var fresh = new DOMParser().parseFromString(html, "text/html");
            swap(fresh, "[data-live]");
            swap(fresh, "[data-live-part]");
            if (!typing) {
              var actions = fresh.querySelector(".actions");
              if (!swap(fresh, ".actions") && actions) { document.querySelector("[data-live-part]").before(actions); }
            }
            var note = document.querySelector(".live-note");
            if (note) { note.hidden = false; }
          });
      })
      .catch(function () { /* the next tick tries again */ });
  }, 3000);
})();

// Evidence files dropped on the upload form join its file input.
(function () {
  document.querySelectorAll("form[data-drop]").forEach(function (form) {
    var input = form.querySelector("input[type=file]");
    var zone = form.querySelector(".drop");
    if (!input || !zone || !window.DataTransfer) { return; }
    ["dragenter", "dragover"].forEach(function (name) {
      form.addEventListener(name, function (e) { e.preventDefault(); zone.classList.add("over"); });
    });
    ["dragleave", "drop"].forEach(function (name) {
      form.addEventListener(name, function () { zone.classList.remove("over"); });
    });
    form.addEventListener("drop", function (e) {
      e.preventDefault();
      var all = new DataTransfer();
      Array.prototype.forEach.call(input.files, function (f) { all.items.add(f); });
      Array.prototype.forEach.call(e.dataTransfer.files, function (f) { all.items.add(f); });
      input.files = all.files;
      zone.textContent = input.files.length + " file(s) ready to add";
    });
  });
})();

// The open-a-claim form: the cap shown follows the claim type chosen.
(function () {
  document.addEventListener("DOMContentLoaded", function () {
    var type = document.querySelector("select[data-caps]");
    var shown = document.querySelector("[data-cap]");
    if (!type || !shown) { return; }
    var caps = JSON.parse(type.getAttribute("data-caps"));
    function amount(cents) {
      return (cents / 100).toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
    }
    type.addEventListener("change", function () {
      if (caps[type.value] !== undefined) { shown.textContent = amount(caps[type.value]); }
    });
  });
})();
