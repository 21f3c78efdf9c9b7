#!/usr/bin/env python3
"""Checks a Grafana dashboard against what sy-control really serves.

usage: check_dashboard.py DASHBOARD.json METRICS.txt [--prometheus URL]

METRICS.txt is a scrape of sy-control's /metrics. For every panel target
and every templating query of the dashboard:
  - every metric name in the PromQL expression is served (a renamed or
    removed metric fails), and every expression names at least one;
  - every label it uses (matchers, by/without/on/ignoring/group_* lists,
    label_values) exists on a metric of that expression, apart from the
    labels Prometheus adds itself (instance, job);
  - every selector of a metric with a `service` label filters on the
    `$service` variable, every selector on `$instance`;
  - the panel and the target use the `${DS_PROMETHEUS}` data source.
With --prometheus, every expression is also evaluated by that Prometheus
(/api/v1/query; $__rate_interval = 5s, $service and $instance = .*) and
must be accepted (a PromQL syntax error fails); how many return data is
printed, and the names given with --nonempty must return data.
Prints PASS:/FAIL: lines; exit 1 if anything failed.
"""
import argparse
import json
import re
import sys
import urllib.parse
import urllib.request

PROM_LABELS = {"instance", "job"}
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or",
            "unless", "bool", "offset", "inf", "nan"}
IDENT = r"[A-Za-z_:][A-Za-z0-9_:]*"


def served_metrics(path):
    """metric name -> set of label names, from Prometheus text"""
    out = {}
    sample = re.compile(r"^(" + IDENT + r")(\{([^}]*)\})?\s+\S+")
    for line in open(path):
        if line.startswith("#") or not line.strip():
            continue
        m = sample.match(line)
        if not m:
            continue
        labels = set(re.findall(r"(" + IDENT + r')\s*=\s*"', m.group(3) or ""))
        out.setdefault(m.group(1), set()).update(labels)
    return out


def analyse(expr):
    """(metric names, label names, selectors [(metric, matcher text)])"""
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # strings out (keep matcher shape)
    selectors = [(m.group(1), m.group(2))
                 for m in re.finditer(r"(" + IDENT + r")?\s*\{([^}]*)\}", e)]
    # the matchers, with their original values, for the variable checks
    raw = [(m.group(1), m.group(2))
           for m in re.finditer(r"(" + IDENT + r")?\s*\{((?:[^}\"]|\"(?:[^\"\\]|\\.)*\")*)\}", expr)]
    labels = set()
    for _, body in selectors:
        labels.update(re.findall(r"(" + IDENT + r")\s*(?:=~|!~|!=|=)", body))
    e = re.sub(r"\{[^}]*\}", " ", e)
    e = re.sub(r"\[[^\]]*\]", " ", e)
    for m in re.finditer(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)", e):
        labels.update(x.strip() for x in m.group(1).split(",") if x.strip())
    e = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    names = set()
    for m in re.finditer(r"(?<![\w.$])(" + IDENT + r")(?!\w)", e):
        word, rest = m.group(1), e[m.end():]
        if word.lower() in KEYWORDS or rest.lstrip().startswith("("):
            continue
        names.add(word)
    return names, labels, raw


def walk_panels(panels):
    for p in panels:
        yield p
        yield from walk_panels(p.get("panels", []))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dashboard")
    ap.add_argument("metrics")
    ap.add_argument("--prometheus")
    ap.add_argument("--nonempty", action="append", default=[],
                    help="a panel title whose first target must return data")
    a = ap.parse_args()
    dash = json.load(open(a.dashboard))
    served = served_metrics(a.metrics)
    failed = []

    def fail(msg):
        failed.append(msg)
        print("FAIL: " + msg)

    exprs = []  # (where, expr)
    ds_ok = True
    variables = {v.get("name"): v for v in dash.get("templating", {}).get("list", [])}
    if variables.get("DS_PROMETHEUS", {}).get("type") != "datasource":
        fail("no datasource variable DS_PROMETHEUS")
    if variables.get("service", {}).get("type") != "query":
        fail("no query variable 'service'")
    for name, v in variables.items():
        if v.get("type") != "query":
            continue
        q = v.get("query")
        q = q.get("query") if isinstance(q, dict) else q
        m = re.fullmatch(r"\s*label_values\((.*),\s*(" + IDENT + r")\s*\)\s*", q or "")
        if not m:
            fail("variable %s: query is not label_values(METRIC, LABEL): %r" % (name, q))
            continue
        exprs.append(("variable " + name, m.group(1), {m.group(2)}))
        if v.get("datasource", {}).get("uid") != "${DS_PROMETHEUS}":
            fail("variable %s: data source is not ${DS_PROMETHEUS}" % name)
    n_panels = 0
    for p in walk_panels(dash.get("panels", [])):
        if p.get("type") == "row":
            continue
        n_panels += 1
        if p.get("datasource", {}).get("uid") != "${DS_PROMETHEUS}":
            ds_ok = False
            fail("panel %r: data source is not ${DS_PROMETHEUS}" % p.get("title"))
        if not p.get("targets"):
            fail("panel %r has no targets" % p.get("title"))
        for t in p.get("targets", []):
            if t.get("datasource", {}).get("uid") != "${DS_PROMETHEUS}":
                ds_ok = False
                fail("panel %r target %s: data source is not ${DS_PROMETHEUS}" % (p.get("title"), t.get("refId")))
            exprs.append(("panel %r target %s" % (p.get("title"), t.get("refId")), t.get("expr", ""), set()))

    n_names = set()
    for where, expr, extra_labels in exprs:
        names, labels, selectors = analyse(expr)
        labels |= extra_labels
        ok = True
        if not names:
            fail("%s: no metric name in %r" % (where, expr))
            ok = False
        for n in sorted(names):
            n_names.add(n)
            if n not in served:
                fail("%s: metric %s is not served by sy-control /metrics" % (where, n))
                ok = False
        have = set(PROM_LABELS)
        for n in names:
            have |= served.get(n, set())
        for lb in sorted(labels - have):
            if lb == "le" and any(n.endswith("_bucket") for n in names):
                continue
            fail("%s: label %r is on none of %s" % (where, lb, sorted(names)))
            ok = False
        for metric, body in selectors:
            if not metric:
                fail("%s: a selector without a metric name: {%s}" % (where, body))
                ok = False
                continue
            if 'instance=~"$instance"' not in body.replace(" ", ""):
                fail("%s: %s does not filter on $instance" % (where, metric))
                ok = False
            if "service" in served.get(metric, set()) and where.startswith("panel") and \
                    'service=~"$service"' not in body.replace(" ", ""):
                fail("%s: %s does not filter on $service" % (where, metric))
                ok = False
        if ok:
            print("PASS: %s: %s served" % (where, ", ".join(sorted(names))))
    print("dashboard: %d panels, %d expressions, %d distinct metrics, all served: %s"
          % (n_panels, len(exprs), len(n_names), "yes" if not failed else "no"))

    if a.prometheus:
        answered = with_data = 0
        titles_with_data = set()
        for where, expr, _ in exprs:
            if where.startswith("variable"):
                expr = "count by (x) (%s)" % expr.replace("$instance", ".*")
            q = (expr.replace("$__rate_interval", "5s").replace("$service", ".*")
                 .replace("$instance", ".*"))
            url = a.prometheus + "/api/v1/query?" + urllib.parse.urlencode({"query": q})
            try:
                with urllib.request.urlopen(url, timeout=10) as r:
                    ans = json.load(r)
            except Exception as e:  # a 400 (bad PromQL) lands here too
                body = getattr(e, "read", lambda: b"")().decode(errors="replace")
                fail("%s: Prometheus refused %r: %s %s" % (where, q, e, body[:200]))
                continue
            if ans.get("status") != "success":
                fail("%s: Prometheus: %s" % (where, ans))
                continue
            answered += 1
            if ans["data"]["result"]:
                with_data += 1
                if where.endswith("target A"):
                    titles_with_data.add(where[len("panel "):-len(" target A")].strip("'\""))
        print("prometheus: %d of %d expressions accepted, %d returned data" % (answered, len(exprs), with_data))
        if answered == len(exprs):
            print("PASS: Prometheus evaluates every dashboard expression")
        for t in a.nonempty:
            if t in titles_with_data:
                print("PASS: panel %r shows data" % t)
            else:
                fail("panel %r returned no data" % t)
    if not ds_ok:
        print("FAIL: data sources")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
