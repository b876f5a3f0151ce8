"""Every write of the backups domain, one module per part: devices and mobile
sign-in (`devices`), auto-backup sessions (`backup`), contacts snapshots
(`contacts`) and push notifications (`notifications`)."""
