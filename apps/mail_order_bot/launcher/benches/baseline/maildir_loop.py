"""Baseline: the Maildir order loop a Python user writes with the standard library.

Usage: maildir_loop.py MAILDIR DATABASE
Reads every file in new/, stores each mail's outcome with one commit per mail, then moves
the file to cur/ marked seen (`:2,S`). Prints the number of mails handled.
"""

import os
import sys

from orders import handle, open_db


def main():
    maildir, database = sys.argv[1:3]
    db = open_db(database)
    new, cur = os.path.join(maildir, "new"), os.path.join(maildir, "cur")
    handled = 0
    for name in sorted(os.listdir(new)):
        path = os.path.join(new, name)
        with open(path, "rb") as file:
            handle(db, file.read())
        os.rename(path, os.path.join(cur, name + ":2,S"))
        handled += 1
    print(handled)


if __name__ == "__main__":
    main()
