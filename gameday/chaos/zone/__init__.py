"""A zone lost (issue 15, drill 5): every member labelled with one zone stops at once and stays down;
the database fails over to its replica in another zone; the zone returns and the playbooks restore
full redundancy. Zone labels and survivability: :mod:`gameday.zones`."""
