"""WsgiDAV's lock storage in the database: every worker process sees the same locks.

WsgiDAV names locks by path, and every user sees their own tree at /dav/, so each
lock also belongs to the user whose request made it (the request's `Scope`, in use
while WsgiDAV runs); nothing here reads or writes another user's locks. A
request loads its user's live locks once (a handful at most) and answers every
later question from that list, so a PROPFIND of many entries costs one query.
"""

import contextvars
import time
from contextlib import contextmanager

from django.db import transaction
from wsgidav import util
from wsgidav.lock_man.lock_manager import generate_lock_token, normalize_lock_root, validate_lock

from .models import Lock

LOCK_TIME_OUT_DEFAULT = 604800  # a week, as WsgiDAV
LOCK_TIME_OUT_MAX = 4 * 604800

class Scope:
    """One request's user and the locks it has loaded."""

    def __init__(self, user):
        self.user, self.locks = user, None


_scope = contextvars.ContextVar("dav_lock_scope", default=None)


@contextmanager
def using(scope: Scope):
    """Locks read and written in this block are `scope.user`'s."""
    token = _scope.set(scope)
    try:
        yield
    finally:
        _scope.reset(token)


def _current() -> Scope:
    scope = _scope.get()
    if scope is None:  # only ever used inside a signed-in DAV request
        raise RuntimeError("DAV lock storage used outside a request")
    return scope


def _as_dict(row: Lock) -> dict:
    return {"token": row.token, "root": row.root, "depth": row.depth, "scope": row.scope, "type": row.type,
            "principal": row.principal, "owner": row.owner_xml.encode(), "timeout": row.timeout,
            "expire": row.expire}


def _live(lock: dict) -> bool:
    return lock["expire"] < 0 or lock["expire"] >= time.time()


class DatabaseLockStorage:
    """The interface of wsgidav.lock_man.lock_storage.LockStorageDict, on the Lock table."""

    def __repr__(self):
        return "DatabaseLockStorage"

    def open(self):
        pass

    def close(self):
        pass

    def cleanup(self):
        Lock.objects.filter(expire__gte=0, expire__lt=time.time()).delete()

    def clear(self):
        self._mine().delete()
        _current().locks = None

    def _mine(self):
        return Lock.objects.filter(owner=_current().user)

    def _locks(self) -> list[dict]:
        scope = _current()
        if scope.locks is None:
            scope.locks = [_as_dict(row) for row in self._mine()]
        return [lock for lock in scope.locks if _live(lock)]

    def get(self, token):
        return next((lock for lock in self._locks() if lock["token"] == token), None)

    def create(self, path, lock):
        assert lock.get("token") is None and lock.get("expire") is None
        lock["root"] = normalize_lock_root(path)
        timeout = float(lock.get("timeout") if lock.get("timeout") is not None else LOCK_TIME_OUT_DEFAULT)
        if timeout < 0 or timeout > LOCK_TIME_OUT_MAX:
            timeout = LOCK_TIME_OUT_MAX
        lock["timeout"] = timeout
        lock["expire"] = time.time() + timeout
        validate_lock(lock)
        lock["token"] = generate_lock_token()
        with transaction.atomic():
            self._mine().filter(expire__gte=0, expire__lt=time.time()).delete()
            Lock.objects.create(owner=_current().user, token=lock["token"], root=lock["root"], depth=lock["depth"],
                                scope=lock["scope"], type=lock["type"], principal=lock["principal"],
                                owner_xml=util.to_str(lock["owner"]), timeout=timeout, expire=lock["expire"])
        _current().locks = None
        return lock

    def refresh(self, token, *, timeout):
        if timeout < 0 or timeout > LOCK_TIME_OUT_MAX:
            timeout = LOCK_TIME_OUT_MAX
        expire = time.time() + timeout
        self._mine().filter(token=token).update(timeout=timeout, expire=expire)
        _current().locks = None
        lock = self.get(token)
        if lock is None:
            raise ValueError("Lock must exist")
        return lock

    def delete(self, token):
        deleted, _ = self._mine().filter(token=token).delete()
        _current().locks = None
        return bool(deleted)

    def get_lock_list(self, path, *, include_root, include_children, token_only):
        assert include_root or include_children
        path = normalize_lock_root(path)
        found = []
        for lock in self._locks():
            if (include_root and lock["root"] == path) or \
                    (include_children and util.is_child_uri(path, lock["root"])):
                found.append(lock["token"] if token_only else lock)
        return found
