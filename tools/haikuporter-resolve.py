#!/usr/bin/env python3
"""haikuporter-resolve: HaikuPorter's own DependencyResolver, run as a Haiku builder runs it.

A builder's haikuporter is started by the master with `--no-system-packages`, so it sees exactly the
packages the master made visible in PACKAGES_PATH. Before it builds a port it
  1. finds the build platform's `haiku` package there (BuildPlatformHaiku.init: `haiku.hpkg` or
     `haiku-*.hpkg`, else "Failed to find Haiku system package"), and
  2. resolves the port's DependencyInfos over PACKAGES_PATH alone, twice, as Port.py does:
     BUILD_REQUIRES (_getPackagesRequiredForBuild) and BUILD_PREREQUIRES + SCRIPTLET_PREREQUIRES
     (_getPackagesPrerequiredForBuild), each followed by the REQUIRES of every package chosen.
This script does the same with HaikuPorter's modules imported from a HaikuPorter checkout, on Linux:
the platform object is HaikuPorter's BuildPlatformHaiku, initialised from the visible `haiku` package
instead of /packages, so no implicit provides hide a missing package (the Unix platform's would).
It never decides anything itself; every choice and every error message is HaikuPorter's.

Usage (stdlib only; HaikuPorter is pure Python 3):
  haikuporter-resolve.py check --haikuporter DIR --packages DIR [--buildmaster BIN] DEPINFO...
      One build, as the stand-in needs it. Exit 0 and print the packages used; exit 1 and print
      HaikuPorter's reason on stderr.
  haikuporter-resolve.py batch --haikuporter DIR [--buildmaster BIN] < REQUESTS.json
      Many builds, for the closure check: {"work": DIR, "builds": [{"port": NAME, "dependency_infos":
      [FILE...], "visible": [HPKG PATH...]}]}; one JSON object per build on stdout:
      {"port", "accepted", "error", "used", "unused"}. Each build gets a directory of symlinks to its
      visible packages; each distinct package is read once (`package list -i`) and the parsed info
      reused under the symlink's path, as HaikuPorter's own cache would.
  haikuporter-resolve.py packages --haikuporter DIR --config BUILDER_CONF --packages DIR --recipe FILE
                         --out DIR [--secondary-arch ARCH] [--no-source-packages] [--vendor V]
      The packages one build of the port writes, as HaikuPorter's Port.py makes them (port_packages
      below): for each, HaikuPorter's .PackageInfo (Package._generatePackageInfo, as makeHpkg calls
      it) and DependencyInfo (writeDependencyInfoIntoRepository) in DIR, and one line on stdout:
      name, version, revision, architecture, type, hpkg file name, PackageInfo, DependencyInfo and
      the recipe's extension ('' for the main package), tab-separated. Exit 1 with HaikuPorter's
      reason on stderr when it would not parse the recipe.
  haikuporter-resolve.py emulate --buildmaster BIN --out DIR DEPINFO_OR_PACKAGEINFO...
      Writes an empty package (`buildmaster hpkg create`) for every DependencyInfo (revision 1) or
      .PackageInfo given: an emulated repository. Existing outputs are kept.

HaikuPorter runs `PACKAGE_COMMAND list -i FILE`; here that is `buildmaster hpkg list -i FILE`, through a
two-line wrapper written into the work directory.
"""

import argparse
import copy
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

REQUIRES_TYPE_SETS = (
    ['BUILD_REQUIRES'],
    ['BUILD_PREREQUIRES', 'SCRIPTLET_PREREQUIRES'],
)


class Refused(Exception):
    """HaikuPorter would not build: the message is its own."""


def find_buildmaster(given):
    """BUILDMASTER / --buildmaster, else `buildmaster` on PATH, else this checkout's build."""
    if given:
        return given
    on_path = shutil.which('buildmaster')
    if on_path:
        return on_path
    checkout = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for build in ('release', 'debug'):
        candidate = os.path.join(checkout, 'target', build, 'buildmaster')
        if os.access(candidate, os.X_OK):
            return candidate
    sys.exit('haikuporter-resolve: buildmaster binary not found (set BUILDMASTER)')


# What Haiku's finddir answers for the directories HaikuPorter asks about while it parses a recipe
# (BuildPlatformHaiku.findDirectory runs /bin/finddir, which only Haiku has; BuildPlatformUnix emulates
# the same three values).
HAIKU_DIRECTORIES = {
    'B_PACKAGE_LINKS_DIRECTORY': '/packages',
    'B_SYSTEM_DIRECTORY': '/boot/system',
    'B_SYSTEM_PACKAGES_DIRECTORY': '/boot/system/packages',
}


class HaikuPorter(object):
    """HaikuPorter's modules, set up as on a builder run with --no-system-packages.

    builder_config: the builder config HaikuPorter is started with (haikuports.conf syntax). Without
    it, a minimal x86_64 config. Either way PACKAGE_COMMAND, OUTPUT_DIRECTORY and REPOSITORY_PATH
    point into work, so nothing is written into the ports tree. options: further haikuporter options
    (`--no-source-packages`)."""

    def __init__(self, haikuporter_dir, buildmaster, work, builder_config=None, options=(),
                 vendor=None):
        if not os.path.isfile(os.path.join(haikuporter_dir, 'HaikuPorter', 'DependencyResolver.py')):
            sys.exit('haikuporter-resolve: %s is not a HaikuPorter checkout '
                     '(no HaikuPorter/DependencyResolver.py)' % haikuporter_dir)
        self.work = work
        package_command = os.path.join(work, 'package')
        with open(package_command, 'w') as f:
            f.write('#!/bin/sh\nexec "%s" hpkg "$@"\n' % buildmaster.replace('"', '\\"'))
        os.chmod(package_command, 0o755)
        config = os.path.join(work, 'haikuports.conf')
        with open(config, 'w') as f:
            if builder_config:
                # The builder config as it is, HaikuPorter's PACKAGER being required (the stand-in
                # has always defaulted it).
                f.write('. %s\nPACKAGER="${PACKAGER:-haikuporter-standin <standin@localhost>}"\n'
                        % shlex.quote(os.path.abspath(builder_config)))
            else:
                f.write('TREE_PATH=%s\nPACKAGER="haikuporter-resolve <resolve@localhost>"\n'
                        'TARGET_ARCHITECTURE="x86_64"\n' % shlex.quote(work))
            if vendor:
                f.write('VENDOR=%s\n' % shlex.quote(vendor))
            f.write('PACKAGE_COMMAND=%s\nREPOSITORY_PATH=%s\nOUTPUT_DIRECTORY=%s\n'
                    % (shlex.quote(package_command), shlex.quote(os.path.join(work, 'repository')),
                       shlex.quote(work)))
        # HaikuPorter reads its options from the command line it was started with.
        sys.argv = ['haikuporter', '--config=' + config, '--no-system-packages'] + list(options)
        sys.path.insert(0, haikuporter_dir)
        from HaikuPorter import Options
        Options.parseOptions()
        self.getOption = Options.getOption
        from HaikuPorter.Configuration import Configuration
        Configuration.init()
        self.Configuration = Configuration
        from HaikuPorter import BuildPlatform, DependencyResolver, PackageInfo, RecipeTypes
        self.BuildPlatform = BuildPlatform
        self.DependencyResolver = DependencyResolver.DependencyResolver
        self.PackageInfo = PackageInfo.PackageInfo
        self.MachineArchitecture = RecipeTypes.MachineArchitecture

    def platform_for(self, packages_dir):
        """BuildPlatformHaiku as its init() leaves it with --no-system-packages, from the `haiku`
        package in packages_dir."""
        haiku = None
        for entry in sorted(os.listdir(packages_dir)):
            if entry == 'haiku.hpkg' or (entry.startswith('haiku-') and entry.endswith('.hpkg')):
                haiku = entry
                break
        if haiku is None:
            raise Refused('Failed to find Haiku system package (no haiku.hpkg or haiku-*.hpkg in %s)'
                          % packages_dir)
        info = self.package_info(os.path.join(packages_dir, haiku))
        machine = self.MachineArchitecture.getTripleFor(info.architecture)
        if not machine:
            raise Refused('Unsupported Haiku build platform architecture %s' % info.architecture)
        platform = self.BuildPlatform.BuildPlatformHaiku()
        self.BuildPlatform.BuildPlatform.init(platform, self.work, self.work, packages_dir,
                                              info.architecture, machine)
        platform.findDirectoryCache = dict(HAIKU_DIRECTORIES)
        # Modules that look the platform up at call time (ProvidesManager) must see this one.
        self.BuildPlatform.buildPlatform = platform
        return platform

    def package_info(self, path):
        """HaikuPorter's parse of a package, remembered under its path."""
        cache = self.DependencyResolver.packageInfoCache
        if path not in cache:
            try:
                cache[path] = self.PackageInfo(path)
            except (subprocess.CalledProcessError, SystemExit) as e:
                raise Refused('failed to parse "%s": %s' % (path, e))
        return cache[path]

    def port_class(self, platform):
        """HaikuPorter's Port, seeing platform. Port and Package imported the BuildPlatform module's
        instance by name, so they are pointed at this one."""
        from HaikuPorter import Port as PortModule
        for module in ('Port', 'Package'):
            sys.modules['HaikuPorter.' + module].buildPlatform = platform
        Port = PortModule.Port
        if (not self.Configuration.getLicensesDirectory()
                and not os.path.isdir(platform.getLicensesDirectory())):
            # No Haiku licence files here (only Haiku has /boot/system/data/licenses, and the builder
            # config names none): licence names go unchecked, as the master leaves them without
            # [ports] licenses_directory; that LICENSE is set is still checked.
            def licence_present(port, key, entries, show_warnings):
                if not entries.get(key):
                    raise SystemExit('No %s found (in %s)' % (key, port.recipeFilePath))
            Port._validateLICENSE = licence_present
        return Port

    def global_shell_variables(self, platform):
        """Main._initGlobalShellVariables, for a builder (not a cross repository)."""
        jobs = self.getOption('jobs')
        variables = {
            'haikuVersion': 'r1~alpha1',
            'buildArchitecture': platform.architecture,
            'targetArchitecture': platform.targetArchitecture,
            'jobs': str(jobs),
            'isCrossRepository': 'false',
        }
        if jobs > 1:
            variables['jobArgs'] = '-j' + str(jobs)
        return variables

    def port_packages(self, packages_dir, recipe, secondary_arch, out):
        """The packages a build of the port at recipe writes, as HaikuPorter's Port.py makes them:
        one per extension that provides something (PACKAGE_NAME_<ext> and PACKAGE_VERSION_<ext>
        honoured), only those buildable on the target (untested ones with ALLOW_UNTESTED), and the
        _source package unless CREATE_SOURCE_PACKAGES is off or --no-source-packages is given. For
        each, HaikuPorter writes its .PackageInfo and DependencyInfo into out. Returns
        [(extension, package, package info, dependency info)] or raises Refused with HaikuPorter's
        message. The platform (and so the `haiku` package) is set up first, as HaikuPorter does
        before it reads any recipe."""
        from HaikuPorter.Policy import Policy
        platform = self.platform_for(packages_dir)
        Port = self.port_class(platform)
        recipe = os.path.abspath(recipe)
        base_dir = os.path.dirname(recipe)
        name, version = os.path.basename(recipe)[:-len('.recipe')].rsplit('-', 1)
        repository = os.path.join(out, 'repository')
        os.makedirs(repository, exist_ok=True)
        Port.setRepositoryDir(repository)
        port = Port(name, version, os.path.basename(os.path.dirname(base_dir)), base_dir, out,
                    self.global_shell_variables(platform), Policy(False), secondary_arch or None)
        try:
            port.parseRecipeFileRaisingExceptions(False)
        except SystemExit as e:
            # sysExit's message, without the `Error: ` it puts before every line.
            raise Refused('\n'.join(line[len('Error: '):] if line.startswith('Error: ') else line
                                    for line in str(e.code).split('\n')))
        result = []
        for package in port.packages:
            extension = next((ext for ext, keys in port.recipeKeysByExtension.items()
                              if keys is package.recipeKeys), 'source')
            require_self_provides(recipe, extension, package)
            info = os.path.join(out, package.name + '.PackageInfo')
            # As Package.makeHpkg writes it (without the RequiresUpdater, which needs the
            # packages the build used; the stand-in builds nothing they could change).
            package._generatePackageInfo(info, ['REQUIRES'], True, False, True,
                                         package.architecture)
            package.writeDependencyInfoIntoRepository(repository)
            result.append((extension, package, info, package.dependencyInfoFile(repository)))
        return result

    def resolve(self, packages_dir, dependency_infos):
        """The packages a build of the port uses, or Refused with HaikuPorter's message."""
        for info in dependency_infos:
            if not os.path.isfile(info):
                raise Refused('no DependencyInfo %s' % info)
        platform = self.platform_for(packages_dir)
        used = []
        for requires_types in REQUIRES_TYPE_SETS:
            try:
                found = platform.resolveDependencies(list(dependency_infos), requires_types,
                                                     [packages_dir], quiet=True)
            except LookupError as e:
                raise Refused('unable to resolve %s: %s'
                              % (' + '.join(t.lower() for t in requires_types), e))
            except SystemExit as e:
                raise Refused(str(e))
            for path in found or []:
                if path not in used:
                    used.append(path)
        return used


def require_self_provides(recipe, extension, package):
    """The stand-in's rule (a policy warning in HaikuPorter): a package provides its own name, read
    as Policy._parseResolvableExpressionList reads provides entries."""
    provided = {m.group(0) for m in (re.match(r'[^-/=!<>\s]+', p)
                                     for p in package.recipeKeys['PROVIDES']) if m}
    if package.name not in provided:
        raise Refused("%s: PROVIDES%s does not provide the package's own name %s"
                      % (recipe, '_' + extension if extension else '', package.name))


def command_check(args):
    work = tempfile.mkdtemp(prefix='haikuporter-resolve.')
    try:
        hp = HaikuPorter(args.haikuporter, find_buildmaster(args.buildmaster), work)
        try:
            used = hp.resolve(os.path.abspath(args.packages), args.dependency_infos)
        except Refused as e:
            sys.stderr.write('%s\n' % e)
            return 1
        for path in used:
            print(os.path.basename(path))
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


def command_packages(args):
    work = tempfile.mkdtemp(prefix='haikuporter-resolve.')
    try:
        options = ['--no-source-packages'] if args.no_source_packages else []
        hp = HaikuPorter(args.haikuporter, find_buildmaster(args.buildmaster), work,
                         builder_config=args.config, options=options, vendor=args.vendor)
        out = os.path.abspath(args.out)
        os.makedirs(out, exist_ok=True)
        try:
            packages = hp.port_packages(os.path.abspath(args.packages), args.recipe,
                                        args.secondary_arch, out)
        except Refused as e:
            sys.stderr.write('%s\n' % e)
            return 1
        for extension, package, info, dependency_info in packages:
            print('\t'.join([package.name, package.version, package.revision, package.architecture,
                             package.type, package.hpkgName, info, dependency_info, extension]))
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


def command_batch(args):
    request = json.load(sys.stdin)
    work = request['work']
    os.makedirs(work, exist_ok=True)
    hp = HaikuPorter(args.haikuporter, find_buildmaster(args.buildmaster), work)
    for number, build in enumerate(request['builds']):
        visible_dir = os.path.join(work, 'visible-%d' % number)
        shutil.rmtree(visible_dir, ignore_errors=True)
        os.makedirs(visible_dir)
        result = {'port': build['port'], 'accepted': False, 'error': None, 'used': [], 'unused': []}
        try:
            for target in build['visible']:
                link = os.path.join(visible_dir, os.path.basename(target))
                os.symlink(target, link)
                # The same bytes parse the same: HaikuPorter's reading of the target, under the
                # symlink's path (the resolver keys its cache and its answers by path).
                info = copy.copy(hp.package_info(target))
                info.path = link
                hp.DependencyResolver.packageInfoCache[link] = info
            used = hp.resolve(visible_dir, build['dependency_infos'])
            result['accepted'] = True
            result['used'] = sorted(os.path.basename(p) for p in used)
            result['unused'] = sorted(set(os.listdir(visible_dir)) - set(result['used']))
        except Refused as e:
            result['error'] = str(e)
        finally:
            shutil.rmtree(visible_dir, ignore_errors=True)
        print(json.dumps(result), flush=True)
    return 0


def package_info_text(dependency_info):
    """A .PackageInfo for an empty package with a DependencyInfo's name, provides and requires."""
    with open(dependency_info, encoding='utf-8') as f:
        info = json.load(f)

    def entries(values):
        # Recipe entries may carry HaikuPorter's `base` flag, which package files do not have.
        out = []
        for value in values:
            value = value.strip()
            if value.endswith(' base'):
                value = value[:-len(' base')]
            out.append('\t%s\n' % value)
        return ''.join(out)

    text = ('name %s\nversion %s-1\narchitecture %s\nsummary "Emulated %s"\n'
            'description "An empty package emulating %s"\npackager "haikuporter-resolve"\n'
            'vendor "Haiku Project"\ncopyrights "none"\nlicenses "MIT"\n'
            % (info['name'], info['version'], info['architecture'], info['name'], info['name']))
    text += 'provides {\n%s}\n' % entries(info['provides'])
    if info['requires']:
        text += 'requires {\n%s}\n' % entries(info['requires'])
    return info, text


def canonical_name(buildmaster, package):
    """`name-version-architecture.hpkg`, from the package's own attributes."""
    listing = subprocess.run([buildmaster, 'hpkg', 'list', '-i', package],
                             capture_output=True, text=True, check=True).stdout
    fields = {}
    for line in listing.splitlines():
        key, _, value = line.strip().partition(':')
        if key in ('name', 'version', 'architecture') and key not in fields:
            fields[key] = value.strip()
    return '%s-%s-%s.hpkg' % (fields['name'], fields['version'], fields['architecture'])


def command_emulate(args):
    buildmaster = find_buildmaster(args.buildmaster)
    os.makedirs(args.out, exist_ok=True)
    scratch = tempfile.mkdtemp(prefix='haikuporter-resolve-emulate.')
    empty = os.path.join(scratch, 'empty')
    os.makedirs(empty)
    created = os.path.join(scratch, 'emulated.hpkg')
    failed = 0
    try:
        for source in args.inputs:
            name = None
            info_file = source
            if source.endswith('.DependencyInfo'):
                info, text = package_info_text(source)
                name = '%s-%s-1-%s.hpkg' % (info['name'], info['version'], info['architecture'])
                if os.path.exists(os.path.join(args.out, name)):
                    continue
                info_file = os.path.join(scratch, 'info.PackageInfo')
                with open(info_file, 'w', encoding='utf-8') as f:
                    f.write(text)
            out = subprocess.run([buildmaster, 'hpkg', 'create', '-i', info_file, '-C', empty, created],
                                 capture_output=True, text=True)
            if out.returncode != 0:
                sys.stderr.write('cannot emulate %s: %s' % (source, out.stderr))
                failed += 1
                continue
            if name is None:
                name = canonical_name(buildmaster, created)
            os.replace(created, os.path.join(args.out, name))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 1 if failed else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    sub = parser.add_subparsers(dest='command', required=True)
    check = sub.add_parser('check')
    check.add_argument('--haikuporter', required=True)
    check.add_argument('--packages', required=True)
    check.add_argument('--buildmaster', default=os.environ.get('BUILDMASTER'))
    check.add_argument('dependency_infos', nargs='+')
    batch = sub.add_parser('batch')
    batch.add_argument('--haikuporter', required=True)
    batch.add_argument('--buildmaster', default=os.environ.get('BUILDMASTER'))
    packages = sub.add_parser('packages')
    packages.add_argument('--haikuporter', required=True)
    packages.add_argument('--config', required=True)
    packages.add_argument('--packages', required=True)
    packages.add_argument('--recipe', required=True)
    packages.add_argument('--out', required=True)
    packages.add_argument('--secondary-arch', default='')
    packages.add_argument('--no-source-packages', action='store_true')
    packages.add_argument('--vendor', default=None)
    packages.add_argument('--buildmaster', default=os.environ.get('BUILDMASTER'))
    emulate = sub.add_parser('emulate')
    emulate.add_argument('--buildmaster', default=os.environ.get('BUILDMASTER'))
    emulate.add_argument('--out', required=True)
    emulate.add_argument('inputs', nargs='+')
    args = parser.parse_args()
    commands = {'check': command_check, 'batch': command_batch, 'packages': command_packages,
                'emulate': command_emulate}
    return commands[args.command](args)


if __name__ == '__main__':
    sys.exit(main())
