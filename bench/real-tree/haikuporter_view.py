#!/usr/bin/env python3
"""HaikuPorter's own view of a ports tree, as JSON: the oracle side of bench/real-tree/compare.py.

Imports HaikuPorter from the extracted real inputs (never from this checkout), runs what
`haikuporter --repository-update` runs (Main with that option: the repository of DependencyInfos is
created or brought up to date), then walks every port name the way Repository.getActiveVersionOf does —
versions from the highest down, stopping at the first buildable one — and records each version it looked
at: active (with its packages, as HaikuPorter's resolver reads them back from the DependencyInfo files),
skipped (parsed, not buildable on the target architecture) or broken (HaikuPorter's message).

usage: haikuporter_view.py --haikuporter DIR --config haikuports.conf --out FILE
"""

import argparse
import json
import os
import sys
import time


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--haikuporter", required=True, help="HaikuPorter checkout (has HaikuPorter/)")
    parser.add_argument("--config", required=True, help="haikuports.conf to use")
    parser.add_argument("--out", required=True, help="where to write the JSON view")
    return parser.parse_args()


def run_repository_update(haikuporter, config):
    """Runs HaikuPorter's Main as `--repository-update` would and returns it (its .repository is set)."""
    sys.path.insert(0, haikuporter)
    from HaikuPorter.Main import Main
    from HaikuPorter.Options import parseOptions

    # Main reads the options from sys.argv through parseOptions, like the haikuporter command.
    sys.argv = ["haikuporter", "--config", config, "--repository-update", "--no-package-obsoletion",
                "--quiet"]
    options, args = parseOptions()
    return Main(options, args)


def broken_message(port):
    """The message HaikuPorter gives for a broken recipe (from its recipe cache, no second evaluation)."""
    try:
        port.parseRecipeFileRaisingExceptions(False)
    except SystemExit as error:
        return str(error.code)
    except Exception as error:  # HaikuPorter lets some recipe errors escape as other exceptions
        return "%s: %s" % (type(error).__name__, error)
    return "(broken, no message)"


def package_view(package, repository_path):
    """One package as the resolver sees it: the DependencyInfo written for it, parsed back."""
    from HaikuPorter.PackageInfo import PackageInfo

    info = PackageInfo(package.dependencyInfoFile(repository_path))
    keys = package.recipeKeys
    return {
        "name": package.name,
        "version": package.version,
        "architecture": package.architecture,
        "provides": [str(p) for p in info.provides],
        "requires": [str(r) for r in info.requires],
        "build_requires": [str(r) for r in info.buildRequires],
        "build_prerequires": [str(r) for r in info.buildPrerequires],
        # The recipe's own lines, for reading a difference (not compared).
        "raw": {key: keys.get(key, []) for key in ("PROVIDES", "REQUIRES", "BUILD_REQUIRES",
                                                    "BUILD_PREREQUIRES")},
    }


def walk(repository, repository_path):
    """Every version getActiveVersionOf looks at, per port name, in its order."""
    ports, broken, skipped = [], [], []
    for name in sorted(repository.portVersionsByName.keys()):
        for version in reversed(repository.portVersionsByName[name]):
            port = repository.allPorts[name + "-" + version]
            where = os.path.relpath(port.recipeFilePath, repository.treePath)
            if port.hasBrokenRecipe:
                broken.append({"name": name, "version": version, "recipe": where,
                               "message": broken_message(port)})
                continue
            if not port.isBuildableOnTargetArchitecture():
                skipped.append({"name": name, "version": version, "recipe": where,
                                "status": port.statusOnTargetArchitecture})
                continue
            ports.append({
                "name": name,
                "version": version,
                "revision": int(port.revision),
                "recipe": where,
                "packages": [package_view(p, repository_path) for p in port.packages],
            })
            break
    return ports, broken, skipped


def main():
    args = parse_args()
    started = time.monotonic()
    haikuporter = run_repository_update(os.path.abspath(args.haikuporter), os.path.abspath(args.config))
    updated = time.monotonic()
    repository = haikuporter.repository
    from HaikuPorter.Configuration import Configuration

    ports, broken, skipped = walk(repository, Configuration.getRepositoryPath())
    view = {
        "tool": "haikuporter",
        "target_architecture": Configuration.getTargetArchitecture(),
        "repository_update_s": round(updated - started, 3),
        "ports": ports,
        "broken": broken,
        "skipped": skipped,
    }
    with open(args.out, "w", encoding="utf-8") as out:
        json.dump(view, out, indent=1, sort_keys=True)
    packages = sum(len(p["packages"]) for p in ports)
    print("haikuporter: %d evaluated: %d active, %d skipped, %d broken; %d packages; "
          "repository update %.1f s" % (len(ports) + len(skipped) + len(broken), len(ports),
                                        len(skipped), len(broken), packages, updated - started),
          file=sys.stderr)


if __name__ == "__main__":
    main()
