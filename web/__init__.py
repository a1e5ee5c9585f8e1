"""The web app: server-rendered pages (Jinja2) for specialists, approvers, finance and admins.

It calls the same service layer as the API, signs people in with a password and a session
cookie, and works without JavaScript; a little script adds live updates, drag-and-drop uploads
and local times.
"""
