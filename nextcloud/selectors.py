"""What the Nextcloud dialect reads: the server's version and capabilities, a user's
profile and quota in Nextcloud's shapes."""

from files import selectors as files_selectors

# A current Nextcloud major: clients check it to choose what they may use.
VERSION = (32, 0, 3, 2)
VERSION_STRING = ".".join(map(str, VERSION[:3]))
PRODUCT_NAME = "Stratus"


def server_status() -> dict:
    return {"installed": True, "maintenance": False, "needsDbUpgrade": False,
            "version": ".".join(map(str, VERSION)), "versionstring": VERSION_STRING, "edition": "",
            "productname": PRODUCT_NAME, "extendedSupport": False}


def capabilities() -> dict:
    """Only what works: a client that reads a capability uses it. Chunked upload,
    the trash bin and versions over DAV, and share links over OCS are announced by
    the slices that build them (see docs/nextcloud.md)."""
    major, minor, micro, _ = VERSION
    return {
        "version": {"major": major, "minor": minor, "micro": micro, "string": VERSION_STRING, "edition": "",
                    "extendedSupport": False},
        "capabilities": {
            "core": {"pollinterval": 60, "webdav-root": "remote.php/webdav"},
            "files": {"bigfilechunking": False, "undelete": False, "versioning": False},
            "theming": {"name": PRODUCT_NAME, "productName": PRODUCT_NAME},
        },
    }


def user_quota(user) -> dict:
    """Nextcloud's quota object from the figures of the storage-stats endpoint:
    `used` and `free` (= its `available`: quota less used and held), `quota` and
    `total` its quota."""
    stats = files_selectors.usage(user)
    quota = stats["quota"]
    return {"free": stats["available"], "used": stats["used"], "total": quota, "quota": quota,
            "relative": round(100 * stats["used"] / quota, 2) if quota else 0}


def user_profile(user) -> dict:
    """`cloud/user` and `cloud/users/{id}`: the id is the username, the one every
    Nextcloud path names the user by."""
    name = user.full_name or user.username
    return {"enabled": user.is_active, "id": user.username, "displayname": name, "display-name": name,
            "email": user.email or "", "phone": user.phone or "", "address": "", "website": "", "twitter": "",
            "groups": [], "subadmin": [], "language": "", "locale": "", "backend": "Database",
            "lastLogin": 0, "quota": user_quota(user),
            "backend_capabilities": {"setDisplayName": False, "setPassword": False}}
