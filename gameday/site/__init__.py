"""The sample site: a small "local twin" of the NHS Specialist Pharmacy Service website.

It mirrors the platform's data flow so game days have something real to break:

* guidance articles and medicine monographs live in MariaDB (:mod:`gameday.site.db`);
* editors publish through ``POST /api/articles`` (:mod:`gameday.site.app`), which writes the
  article plus an outbox row in one transaction, then emits a Kafka event
  (:mod:`gameday.site.events`);
* the ``indexer`` consumer group (:mod:`gameday.site.indexer`) bulk-indexes those events into
  OpenSearch (:mod:`gameday.site.search`), and relays outbox rows Kafka never acknowledged;
* :mod:`gameday.site.seed` loads the deterministic catalogue from :mod:`gameday.site.catalog`.

Every module takes its settings from :class:`gameday.site.config.SiteConfig` (environment variables).
"""
