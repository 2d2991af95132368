#!/usr/bin/env python3
"""Checks deploy/monitoring offline, without promtool (check.sh runs promtool):

  - grafana-dashboard.json is valid JSON with a Prometheus datasource variable that every
    panel and query uses, unique panel ids, and a PromQL expression in every query;
  - every coredns_etcdhosts_* name in the rules, their unit tests and the dashboard is a
    metric go-shim/metrics.go exports, and the dashboard shows every one of them.

    python3 check.py [--rules FILE] [--tests FILE] [--dashboard FILE] [--metrics FILE]
"""
import argparse
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
NAME = re.compile(r"\bcoredns_etcdhosts_[a-z0-9_]+")


def exported(metrics_go):
    """The metric names metrics.go declares: desc("NAME", ...) and BuildFQName(..., "NAME")."""
    src = open(metrics_go).read()
    names = re.findall(r'\bdesc\("([a-z0-9_]+)"', src)
    names += re.findall(r'BuildFQName\(plugin\.Namespace, pluginName, "([a-z0-9_]+)"\)', src)
    return {"coredns_etcdhosts_" + n for n in names}


def check_dashboard(path, problems):
    """Returns the PromQL expressions of the dashboard's queries and variables."""
    try:
        dash = json.load(open(path))
    except ValueError as e:
        problems.append(f"{path}: not valid JSON: {e}")
        return []
    variables = dash.get("templating", {}).get("list", [])
    ds = [v for v in variables if v.get("type") == "datasource"]
    if len(ds) != 1 or ds[0].get("query") != "prometheus":
        problems.append(f"{path}: want one datasource variable of type prometheus, got {ds}")
        return []
    ref = "${" + ds[0]["name"] + "}"
    exprs = []
    for v in variables:
        if v.get("type") == "query":
            if v.get("datasource", {}).get("uid") != ref:
                problems.append(f"{path}: variable {v.get('name')} does not use {ref}")
            q = v.get("query")
            exprs.append(q.get("query", "") if isinstance(q, dict) else q)
    ids = set()
    panels = dash.get("panels", [])
    if not panels:
        problems.append(f"{path}: no panels")
    for p in panels:
        title = p.get("title")
        if p.get("id") in ids:
            problems.append(f"{path}: panel id {p.get('id')} used twice")
        ids.add(p.get("id"))
        if p.get("type") == "row":
            continue
        if p.get("datasource", {}).get("uid") != ref:
            problems.append(f"{path}: panel {title!r} does not use the datasource {ref}")
        targets = p.get("targets", [])
        if not targets:
            problems.append(f"{path}: panel {title!r} has no query")
        for t in targets:
            if t.get("datasource", {}).get("uid") != ref:
                problems.append(f"{path}: a query of panel {title!r} does not use {ref}")
            if not t.get("expr", "").strip():
                problems.append(f"{path}: a query of panel {title!r} has no expr")
            exprs.append(t.get("expr", ""))
    return exprs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rules", default=os.path.join(HERE, "etcdhosts.rules.yml"))
    ap.add_argument("--tests", default=os.path.join(HERE, "tests.yml"))
    ap.add_argument("--dashboard", default=os.path.join(HERE, "grafana-dashboard.json"))
    ap.add_argument("--metrics", default=os.path.join(ROOT, "go-shim", "metrics.go"))
    args = ap.parse_args()

    problems = []
    known = exported(args.metrics)
    if len(known) < 2:
        problems.append(f"{args.metrics}: found only {sorted(known)}: has the way metrics are declared changed?")

    dash_names = set()
    for e in check_dashboard(args.dashboard, problems):
        dash_names.update(NAME.findall(e))
    used = {"dashboard": dash_names}
    for what, path in (("rules", args.rules), ("tests", args.tests)):
        used[what] = set(NAME.findall(open(path).read()))

    for what, names in used.items():
        for n in sorted(names - known):
            problems.append(f"{what}: {n} is not a metric of {os.path.relpath(args.metrics, ROOT)}")
    for n in sorted(known - dash_names):
        problems.append(f"dashboard: no panel shows {n}")
    if not used["rules"]:
        problems.append(f"{args.rules}: no coredns_etcdhosts_ metric used")

    if problems:
        for p in problems:
            print("deploy/monitoring: " + p, file=sys.stderr)
        return 1
    print(f"deploy/monitoring: the dashboard is valid JSON; rules, tests and dashboard use only "
          f"metrics of go-shim/metrics.go ({len(known)}: {', '.join(sorted(known))})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
