"""The CMS database (MariaDB in the sandbox, the WordPress database on GKE)."""
