"""The whole site, in dependency order: db -> kafka -> search -> indexer -> web (and the load
balancer). Each layer's steps run only if its diagnosis found something; every verify step runs."""

from gameday.recovery import Playbook
from gameday.recovery.layers import db, indexer, kafka, search, web

PLAYBOOK = Playbook(name="site", title="The whole site",
                    parts=(db.CORE, kafka.PART, search.PART, indexer.PART, web.LB, web.WEB))
