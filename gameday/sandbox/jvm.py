"""The JVM flags every Java member of the twin runs with (Kafka, MirrorMaker, OpenSearch, the event
relay), besides its heap::

    argv = [java, "-Xmx384m", *jvm.FLAGS, ...]          # or one per line in OpenSearch's jvm.options

The twin's JVMs are small and lightly loaded on a two-core machine, so they run the client compiler
only (``TieredStopAtLevel=1``: no C2 compiler threads) and the serial collector (no concurrent GC
threads). Measured on this machine (2 cores) against the G1 + C2 defaults: ``gameday sandbox up`` from a
wiped twin 35 s and 61 busy core-seconds instead of 49 s and 92; the smoke game day right after it 75
busy core-seconds instead of 149, with a lower median p95 (40 ms, not 110): C2's compile threads were
the load. A real cluster's JVMs are configured by their operators (ECK, Strimzi), not here."""

FLAGS = ("-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1")
