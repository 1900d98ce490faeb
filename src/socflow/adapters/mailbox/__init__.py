"""Mailboxes of reported mail (IMAP, maildir/folder) for `socflow mail intake`."""
