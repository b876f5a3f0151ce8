"""MegaVault delta sync.

- `cursor`: signed sync tokens naming a position in the owner's change journal
  (`folders.Change.seq`), never a clock time; a position the server cannot serve
  any more is an explicit reset.
- `delta`: one page of `sync/status` — a full listing (no token) or the journal
  rows after a token, several rows of one node folded into one entry.
- `entries`: how a node looks in every sync answer (id, name, folder path, ...).
- `changes`: a phone's local changes (`sync/files`) applied, answered with upload
  instructions, "already there", or a conflict.
- `conflicts`: keep_remote, keep_local, keep_both; every version is kept.
- `queue`: the offline queue (`queue/add`), each operation applied once.
"""
