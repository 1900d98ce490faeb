"""End to end: a username that names another address does not make ``socflow ingest`` blame it.

The attacker at 61.177.172.10 tries usernames holding `` from 9.9.9.10 port 22`` (the issue's
example) and usernames with spaces; the brute-force alert, its title and its observables name
61.177.172.10 alone, and every username tried is counted. A ``Socflow_Block`` on that alert would
block the attacker, not 9.9.9.10.
"""

from __future__ import annotations

import json

from bridge.test_cli import env, run  # noqa: F401 - the fixture is used by name

REAL, FAKE = "61.177.172.10", "9.9.9.10"
USERNAMES = [
    f"admin from {FAKE}",
    f"root from {FAKE} port 22",
    f"x from {FAKE} port 22 ssh2",
    "john smith",
    "oracle dba",
    f"{FAKE}",
]


def test_spoofed_usernames_do_not_move_the_blame(env, tmp_path):  # noqa: F811
    lines = []
    for i, user in enumerate(USERNAMES):
        lines.append(f"Mar 10 00:0{i}:01 web1 sshd[{100 + i}]: Failed password for invalid user {user} "
                     f"from {REAL} port {40000 + i} ssh2")
        lines.append(f"Mar 10 00:0{i}:02 web1 sshd[{100 + i}]: Invalid user {user} from {REAL} port {40000 + i}")
    log = tmp_path / "auth.log"
    log.write_text("\n".join(lines) + "\n")
    out = run("ingest", "--dry-run", "--json", str(log), env=env)
    assert out.returncode == 0, out.stderr
    alerts = json.loads(out.stdout)["alerts"]
    assert [a["title"].split(" from ")[1].split(" ")[0] for a in alerts] == [REAL]
    alert = alerts[0]
    ips = {o["data"] for o in alert["observables"] if o["dataType"] == "ip"}
    assert ips == {REAL}
    users = {o["data"] for o in alert["observables"] if "username" in o["tags"]}
    assert users == set(USERNAMES)
    assert f"({2 * len(USERNAMES)} failed or invalid" in alert["title"]
