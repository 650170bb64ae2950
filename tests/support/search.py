"""The twin's search nodes as a test reaches them: HTTPS verified with the twin's CA, as ``elastic``.

::

    http = search.session(twin)                  # requests.Session with the auth and CA set
    http.get(f"{twin.search_urls()[0]}/_cluster/health", timeout=5)
    search.admin(twin).count("content")          # gameday.search_admin.SearchAdmin, same credentials
"""

from __future__ import annotations

import requests

from gameday.search_admin import SearchAdmin


def session(twin) -> requests.Session:
    http = requests.Session()
    http.trust_env = False  # straight to the twin, whatever proxy the environment names
    http.auth = twin.search_auth()
    http.verify = twin.search_ca()
    return http


def admin(twin, **kwargs) -> SearchAdmin:
    return SearchAdmin(twin.search_urls(), auth=twin.search_auth(), verify=twin.search_ca(), **kwargs)
