"""The site's media (WordPress uploads): restore from the newest backup, prove every attachment's file
back with the backup's checksum, count and name the files lost (uploaded after it), readers served."""

from gameday.recovery import Playbook
from gameday.recovery.layers import media

PLAYBOOK = Playbook(name="media", title="Media uploads restored from backup, the lost files counted", parts=(media.PART,))

# What this playbook restores, as <component>/<failure mode> of platform.yaml (gameday coverage).
COVERS = (
    "media/uploads-lost",
)
