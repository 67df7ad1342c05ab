#!/usr/bin/env python3
"""Compares our view of a ports tree (`buildmaster ports dump`) with HaikuPorter's (haikuporter_view.py),
entry for entry, and counts the differences per class.

Recipes: HaikuPorter looks at each port's versions from the highest down and stops at the first buildable
one, so it has a state only for the recipes it looked at: active, skipped (not buildable on the target
architecture) or broken. Ours evaluates every recipe: active, inactive (evaluated, not the active
version) or a problem (could not be evaluated). Every recipe HaikuPorter looked at whose state differs
counts once, in the class `recipe <haikuporter state> / ours <our state>`, and so does every recipe
active only in ours that HaikuPorter never looked at. Skipped recipes also compare their status.

Packages: for every port active in both at the same version: its revision, its package names, and per
package its version, architecture, provides, requires, build requires and build prerequires (as sets of
resolvable texts; one difference per package and field).

Known differences we keep are listed in a TSV file (class, count, reason). Exit status 1 when a class
is not listed or has more differences than listed; counts below the listed ones are reported so the
file can be tightened.

usage: compare.py --haikuporter HP.json --ours OURS.json [--known FILE] [--details FILE] [--examples N]
"""

import argparse
import collections
import json
import sys

PACKAGE_FIELDS = ("provides", "requires", "build_requires", "build_prerequires")


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--haikuporter", required=True)
    parser.add_argument("--ours", required=True)
    parser.add_argument("--known", help="TSV of kept differences: class, count, reason")
    parser.add_argument("--details", help="write every difference here, by class")
    parser.add_argument("--examples", type=int, default=3, help="examples printed per class")
    return parser.parse_args()


def normalise_expression(text):
    """HaikuPorter keeps a recipe's `=` operator as written; Haiku (and ours) spell it `==`."""
    parts = text.split(" ")
    if len(parts) >= 3 and parts[1] == "=":
        parts[1] = "=="
    return " ".join(parts)


def recipe_states(hp, ours):
    """recipe path -> state, for each side."""
    hp_state = {}
    for port in hp["ports"]:
        hp_state[port["recipe"]] = "active"
    for entry in hp["skipped"]:
        hp_state[entry["recipe"]] = "skipped"
    for entry in hp["broken"]:
        hp_state[entry["recipe"]] = "broken"
    our_state = {}
    for problem in ours["problems"]:
        our_state.setdefault(problem["recipe"], "problem")
    for port in ours["ports"]:
        # secondary-architecture ports share the recipe; the primary one decides
        if port["recipe"] in our_state and our_state[port["recipe"]] != "problem":
            continue
        our_state[port["recipe"]] = "active" if port["active"] else "inactive"
    return hp_state, our_state


def compare_recipes(hp, ours, report):
    hp_state, our_state = recipe_states(hp, ours)
    # Both refusing a recipe agrees, whatever the wording of the two messages.
    same = {("active", "active"), ("skipped", "inactive"), ("broken", "problem")}
    hp_messages = {b["recipe"]: b["message"] for b in hp["broken"]}
    hp_status = {s["recipe"]: s["status"] for s in hp["skipped"]}
    our_messages = {p["recipe"]: p["message"] for p in ours["problems"]}
    our_status = {p["recipe"]: p["status"] for p in ours["ports"]}
    for recipe, state in sorted(hp_state.items()):
        mine = our_state.get(recipe, "absent")
        if (state, mine) in same:
            if state == "skipped" and our_status.get(recipe) != hp_status[recipe]:
                report("status of a skipped recipe", recipe,
                       "haikuporter %s, ours %s" % (hp_status[recipe], our_status.get(recipe)))
            continue
        detail = []
        if recipe in hp_messages:
            detail.append("haikuporter: " + hp_messages[recipe].replace("\n", " | "))
        if recipe in hp_status:
            detail.append("haikuporter status: " + hp_status[recipe])
        if recipe in our_messages:
            detail.append("ours: " + our_messages[recipe].replace("\n", " | "))
        elif recipe in our_status:
            detail.append("our status: " + our_status[recipe])
        report("recipe %s / ours %s" % (state, mine), recipe, "; ".join(detail))
    for recipe, mine in sorted(our_state.items()):
        if mine == "active" and recipe not in hp_state:
            report("recipe not looked at by haikuporter / ours active", recipe,
                   "our status: %s" % our_status.get(recipe))


def compare_packages(hp, ours, report):
    """Returns how many ports and packages were compared."""
    our_active = {(p["name"], p["version"]): p for p in ours["ports"] if p["active"]}
    ports = packages = 0
    for port in hp["ports"]:
        key = (port["name"], port["version"])
        mine = our_active.get(key)
        if mine is None:
            continue  # a recipe difference, counted above
        ports += 1
        packages += len(port["packages"])
        where = "%s-%s" % key
        if mine["revision"] != port["revision"]:
            report("revision", where, "haikuporter %s, ours %s" % (port["revision"], mine["revision"]))
        hp_packages = {p["name"]: p for p in port["packages"]}
        our_packages = {p["name"]: p for p in mine["packages"]}
        for name in sorted(set(hp_packages) - set(our_packages)):
            report("package only in haikuporter", where, name)
        for name in sorted(set(our_packages) - set(hp_packages)):
            report("package only in ours", where, name)
        for name in sorted(set(hp_packages) & set(our_packages)):
            compare_package(where, hp_packages[name], our_packages[name], port["revision"], report)
    return ports, packages


def compare_package(where, theirs, mine, revision, report):
    label = "%s: %s" % (where, theirs["name"])
    full_version = "%s-%s" % (theirs["version"], revision)
    if mine["version"] != full_version and mine["version"] != theirs["version"]:
        report("package version", label, "haikuporter %s, ours %s" % (full_version, mine["version"]))
    if mine["architecture"] != theirs["architecture"]:
        report("package architecture", label,
               "haikuporter %s, ours %s" % (theirs["architecture"], mine["architecture"]))
    for field in PACKAGE_FIELDS:
        hp_set = {normalise_expression(t) if field != "provides" else t for t in theirs[field]}
        our_set = set(mine[field])
        if hp_set != our_set:
            only_hp = sorted(hp_set - our_set)
            only_ours = sorted(our_set - hp_set)
            report(field, label, "only haikuporter: %s; only ours: %s" % (only_hp, only_ours))


def read_known(path):
    known = {}
    if not path:
        return known
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            if not line.strip() or line.startswith("#"):
                continue
            name, count, reason = line.rstrip("\n").split("\t", 2)
            known[name] = (int(count), reason)
    return known


def main():
    args = parse_args()
    with open(args.haikuporter, encoding="utf-8") as f:
        hp = json.load(f)
    with open(args.ours, encoding="utf-8") as f:
        ours = json.load(f)
    found = collections.defaultdict(list)

    def report(kind, where, detail):
        found[kind].append((where, detail))

    compare_recipes(hp, ours, report)
    compared_ports, compared_packages = compare_packages(hp, ours, report)

    our_active = sum(1 for p in ours["ports"] if p["active"])
    our_packages = sum(len(p["packages"]) for p in ours["ports"] if p["active"])
    hp_packages = sum(len(p["packages"]) for p in hp["ports"])
    print("haikuporter: %d active, %d skipped, %d broken; %d packages"
          % (len(hp["ports"]), len(hp["skipped"]), len(hp["broken"]), hp_packages))
    print("ours:        %d active, %d recipes evaluated, %d problems; %d packages of active ports"
          % (our_active, len(ours["ports"]), len(ours["problems"]), our_packages))
    print("compared package by package: %d ports active on both sides at the same version, %d of "
          "HaikuPorter's packages" % (compared_ports, compared_packages))

    known = read_known(args.known)
    failed = False
    print("\n%-58s %7s %7s  %s" % ("difference class", "count", "listed", "verdict"))
    for kind in sorted(set(found) | set(known)):
        count = len(found.get(kind, []))
        listed, _ = known.get(kind, (0, ""))
        if count > listed:
            verdict = "UNLISTED" if kind not in known else "MORE THAN LISTED"
            failed = True
        elif count < listed:
            verdict = "fewer than listed: lower the count"
        else:
            verdict = "known" if count else "none"
        print("%-58s %7d %7s  %s" % (kind, count, listed if kind in known else "-", verdict))
    total = sum(len(v) for v in found.values())
    print("total differences: %d" % total)

    if args.examples:
        for kind in sorted(found):
            print("\n[%s] %d, e.g.:" % (kind, len(found[kind])))
            for where, detail in found[kind][:args.examples]:
                print("  %s: %s" % (where, detail[:300]))
    if args.details:
        with open(args.details, "w", encoding="utf-8") as out:
            for kind in sorted(found):
                out.write("[%s] %d\n" % (kind, len(found[kind])))
                for where, detail in found[kind]:
                    out.write("  %s: %s\n" % (where, detail))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
