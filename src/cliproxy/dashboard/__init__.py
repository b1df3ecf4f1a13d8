"""The dashboard: a page in the browser over the management API (``/dashboard``).

The page is plain HTML, CSS and JavaScript modules under ``static/``: the files shipped are their own
sources, so there is no build step, no Node at install time and nothing fetched at run time. The
server side is small, because the page talks to the management API for everything it already
answers (accounts, logins, usage history, the config file, request logs):

- ``app``     the ASGI app: who may open it (management on, loopback or ``allow-remote``), the page and
              its assets, the session check in front of the API, the management API behind it
- ``session`` logins by the management secret: an HttpOnly, SameSite=Strict cookie and a CSRF token
- ``api``     the JSON the management API has no answer for: login, the live requests, the shared state
              and its live instances, a config check
- ``live``    requests in flight and the last ones finished, read from the server's observer
- ``config_check`` a proposed config: validated as a reload would, its diff, the keys needing a restart

The server imports this package on the first request to ``/dashboard``, not at start, so a server
whose dashboard is never opened holds none of it in memory.
"""
