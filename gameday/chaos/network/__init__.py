"""Network faults between the web tier and its dependencies (toxiproxy in the sandbox)."""
