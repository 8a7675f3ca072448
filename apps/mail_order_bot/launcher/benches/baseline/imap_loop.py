"""Baseline: the IMAP order loop a Python user writes with the standard library.

Usage: imap_loop.py HOST PORT USER PASSWORD DATABASE
Fetches unseen mail in batches of 100 (UID FETCH BODY.PEEK[]), stores each mail's outcome
with one commit per mail, then marks the batch seen. Prints the number of mails handled.
"""

import imaplib
import re
import sys

from orders import handle, open_db

BATCH = 100


def main():
    host, port, user, password, database = sys.argv[1:6]
    db = open_db(database)
    imap = imaplib.IMAP4(host, int(port))
    imap.login(user, password)
    imap.select("INBOX")
    _, data = imap.uid("SEARCH", None, "UNSEEN")
    uids = data[0].split()
    handled = 0
    for start in range(0, len(uids), BATCH):
        batch = b",".join(uids[start : start + BATCH])
        _, items = imap.uid("FETCH", batch, "(BODY.PEEK[])")
        done = []
        for item in items:
            if not isinstance(item, tuple):
                continue
            uid = re.search(rb"UID (\d+)", item[0]).group(1)
            handle(db, item[1])
            done.append(uid)
            handled += 1
        if done:
            imap.uid("STORE", b",".join(done), "+FLAGS.SILENT", r"(\Seen)")
    imap.logout()
    print(handled)


if __name__ == "__main__":
    main()
