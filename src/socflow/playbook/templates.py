"""TheHive case templates, import-ready, from playbooks (``socflow playbook templates``).

The JSON carries only ``InputCreateCaseTemplate`` keys (fact sheet R2.3): TheHive's UI import and
``POST /api/v1/caseTemplate`` both take it. Tasks keep the playbook's order; each ``record`` step
whose task is not listed in the template is added after them, so every task a playbook logs on
exists in a case created from the template.
"""

from __future__ import annotations

from typing import Any

from .model import Playbook, RecordStep


def case_template(playbook: Playbook) -> dict[str, Any] | None:
    spec = playbook.case_template
    if spec is None:
        return None
    tasks = [
        {"title": t.title, "group": t.group, "description": t.description, "status": "Waiting",
         "flag": False, "mandatory": t.mandatory, "order": i}
        for i, t in enumerate(spec.tasks)
    ]
    titles = {t["title"].lower() for t in tasks}
    for step in playbook.steps:
        if isinstance(step, RecordStep) and step.task.lower() not in titles:
            titles.add(step.task.lower())
            tasks.append({"title": step.task, "group": step.group, "description": "",
                          "status": "Waiting", "flag": False, "mandatory": False,
                          "order": len(tasks)})
    return {
        "name": spec.name,
        "displayName": spec.display_name or spec.name,
        "titlePrefix": spec.title_prefix,
        "description": spec.description or playbook.description,
        "severity": spec.severity,
        "tlp": spec.tlp,
        "pap": spec.pap,
        "tags": list(spec.tags),
        "flag": False,
        "tasks": tasks,
        "customFields": [],
    }
