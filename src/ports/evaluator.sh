# buildmaster recipe evaluator: one long-lived bash per worker (see src/ports/evaluate.rs).
#
# HaikuPorter starts one bash per recipe (ConfigParser.py with ShellScriptlets' configFileEvaluatorScript);
# starting bash costs far more than sourcing a recipe, so this worker reads jobs from stdin and
# evaluates each recipe in its own subshell `( … )`: a recipe cannot leak variables, functions,
# options or a changed directory into the next one, and `set -e` inside the subshell mirrors
# HaikuPorter's "stop on every error" without ending the worker.
#
# A recipe sees what it sees under HaikuPorter: the variables of Port._updateShellVariables(forParsing)
# and Main._initGlobalShellVariables (native, not cross), and the helper functions of
# ShellScriptlets.commonRecipeScriptHead (getPackagePrefix, defineDebugInfoPackage) and of
# configFileEvaluatorScript (updateRevisionVariables). The helpers here are written without forks
# (no `$(basename …)`), so a recipe costs no process beyond its own subshell.
#
# Job (one line, tab-separated):
#   preparedRecipe  portName  portBaseName  portVersion  portBaseDir  secondaryArch
# Reply, for every job, on stdout:
#   zero or more  "=KEY LENGTH\n<LENGTH bytes of value>\n"   (every set variable starting with a key)
#   on failure    "!ERR LENGTH\n<LENGTH bytes of bash's stderr>\n"
#   then          ".END STATUS\n"
# LENGTH is ${#value}, bytes because the worker runs with LC_ALL=C.
#
# Set by the caller in the environment: targetArchitecture, buildArchitecture, jobs, haikuVersion,
# isCrossRepository, packagerName, packagerEmail, supportedKeysPattern, recipePhases (as HaikuPorter
# sets them), BM_ERR_FILE (where a recipe's stderr goes), BM_KEYS (prefixes of the attribute names).

# The keys HaikuPorter collects after sourcing are the variables matching `^(KEY)(_[0-9a-zA-Z_]+)?=`
# in `set`'s output. BM_KEYS holds prefixes covering every key (`P` for PATCHES, PROVIDES, …: one
# expansion costs as much as the next, so fewer is faster); bmAllNames lists every variable starting
# with one of them (`${!P@}`), generated once here; the caller applies the exact pattern.
bmCollect=
for bmKey in $BM_KEYS; do
	bmCollect+="\"\${!$bmKey@}\" "
done
eval "bmAllNames() { bmNames=($bmCollect); }"
unset BM_KEYS bmCollect bmKey

machineTripleFor() {
	# HaikuPorter's MachineArchitecture.getTripleFor.
	case $1 in
		x86_gcc2|x86) triple=i586-pc-haiku ;;
		x86_64) triple=x86_64-unknown-haiku ;;
		arm) triple=arm-unknown-haiku ;;
		arm64) triple=aarch64-unknown-haiku ;;
		m68k) triple=m68k-unknown-haiku ;;
		ppc) triple=powerpc-apple-haiku ;;
		ppc64) triple=powerpc64-unknown-haiku ;;
		riscv64) triple=riscv64-unknown-haiku ;;
		sparc) triple=sparc64-unknown-haiku ;;
		*) triple= ;;
	esac
}

# basename(1) and dirname(1) into bmBase / bmDir, without starting a process. bmBasename takes its
# arguments as HaikuPorter's unquoted `$(basename $path)` passes them: a second word is a suffix to
# remove (a path with a space: `basename …/C-Dogs SDL` gives `C-Dogs`); none or more than two print
# nothing (basename fails).
bmBasename() {
	bmBase=
	if (($# < 1 || $# > 2)); then return 0; fi
	local p=$1
	while [[ $p == */ && $p != / ]]; do p=${p%/}; done
	bmBase=${p##*/}
	if [[ -z $bmBase && -n $1 ]]; then bmBase=/; fi
	if [[ $# == 2 && $bmBase != "$2" && $bmBase == *"$2" ]]; then bmBase=${bmBase%"$2"}; fi
}
bmDirname() {
	local p=$1
	while [[ $p == */ && $p != / ]]; do p=${p%/}; done
	if [[ $p != */* ]]; then bmDir=.; return; fi
	p=${p%/*}
	while [[ $p == */ ]]; do p=${p%/}; done
	bmDir=${p:-/}
}

# ShellScriptlets.commonRecipeScriptHead: the prefix a subpackage's files are installed under.
getPackagePrefix() {
	local packageSuffix="$1" bmDir
	bmDirname "$installDestDir$portPackageLinksDir"
	local packageLinksDir=$bmDir
	local packageName packageArchitectures packageVersion
	eval "packageName=\"\$PACKAGE_NAME_$packageSuffix\""
	if [ -z "$packageName" ]; then
		eval "packageArchitectures=\"\$ARCHITECTURES_$packageSuffix\""
		if [[ "$packageArchitectures" == *any* ]]; then
			packageName="${portBaseName}_$packageSuffix"
		else
			packageName="${portName}_$packageSuffix"
		fi
	fi
	eval "packageVersion=\"\$PACKAGE_VERSION_$packageSuffix\""
	if [ -z "$packageVersion" ]; then
		packageVersion="$portVersion"
	fi
	echo $packageLinksDir/$packageName-$packageVersion-$REVISION/.self
}

# ShellScriptlets.commonRecipeScriptHead: declares the `<base>_debuginfo` package (PROVIDES_debuginfo,
# REQUIRES_debuginfo) and the files whose debug info it carries.
defineDebugInfoPackage() {
	if [ $# -lt 2 -o "$1" = "--directory" -a $# -lt 4 ]; then
		echo >&2 "Usage: defineDebugInfoPackage [ --directory <toDirectory> ] <packageSuffix> <path> ..."
		exit 1
	fi
	local destDir=$debugInfoDir
	local debugInfoSuffix="($portRevisionedName)"
	if [ "$1" = "--directory" ]; then
		destDir="$2"
		shift 2
	fi
	local basePackageName=$1
	shift 1
	local packageName=${basePackageName}_debuginfo
	local packageSuffix=debuginfo
	local provides=PROVIDES_$packageSuffix
	local requires=REQUIRES_$packageSuffix
	printf -v $provides "%s" "${packageName} = $portVersion"
	printf -v $requires "%s" "${basePackageName} == $portVersion base"
	local paths=DEBUG_INFO_PATHS_$packageSuffix
	local debugInfos=DEBUG_INFO_DEBUG_INFOS_$packageSuffix
	DEBUG_INFO_PACKAGES="$DEBUG_INFO_PACKAGES $packageSuffix"
	local path bmBase count
	while [ $# -ge 1 ]; do
		path=$1
		shift
		# shellcheck disable=SC2086 # word-split as HaikuPorter's `$(basename $path)`
		bmBasename $path
		local providesEntity="debuginfo:${bmBase//-/_}($basePackageName)"
		printf -v $provides "%s\n%s" "${!provides}" "\"$providesEntity\" = $portVersion"
		local debugInfo="$destDir/$bmBase$debugInfoSuffix.debuginfo"
		eval "count=\${#$paths[*]}"
		eval "$paths[$count]=\"$path\""
		eval "$debugInfos[$count]=\"$debugInfo\""
	done
}

# configFileEvaluatorScript: the variables that depend on REVISION hold a literal `$REVISION` until
# the first `REVISION="…"` (the prepared recipe calls this after each one, as HaikuPorter's
# validateRecipeFile arranges); only the first call has an effect. HaikuPorter re-evaluates each of
# them with `eval`; computing them again with the revision gives the same values unless the recipe
# assigned one of them (or portName, portVersion) before its REVISION line — no HaikuPorts recipe
# does — at a third of the cost.
updateRevisionVariables() {
	if [[ -n ${revisionVariables+set} ]]; then
		setPortVariables "$REVISION"
		unset revisionVariables
	fi
}

# Port._updateShellVariables(forParsing=True) for the revision $1 (HaikuPorter first leaves a literal
# `$REVISION`). Plain assignments: this runs once or twice per recipe.
setPortVariables() {
	portRevision=$1
	portFullVersion=$portVersion-$portRevision
	portRevisionedName=$portName-$portFullVersion
	portPackageLinksDir=/packages/$portRevisionedName
	prefix=$portPackageLinksDir/.self
	sysconfDir=$portPackageLinksDir/.settings

	relativeDataDir=data; relativeDataRootDir=data
	relativeBinDir=bin$secondaryArchSubDir; relativeSbinDir=bin$secondaryArchSubDir
	relativeLibDir=lib$secondaryArchSubDir
	relativeIncludeDir=develop/headers$secondaryArchSubDir
	relativeOldIncludeDir=develop/headers$secondaryArchSubDir
	relativeDocDir=documentation/packages/$portName
	relativeInfoDir=documentation/info; relativeManDir=documentation/man
	relativeLibExecDir=lib; relativeSharedStateDir=var; relativeLocalStateDir=var
	dataDir=$prefix/$relativeDataDir; dataRootDir=$prefix/$relativeDataRootDir
	binDir=$prefix/$relativeBinDir; sbinDir=$prefix/$relativeSbinDir; libDir=$prefix/$relativeLibDir
	includeDir=$prefix/$relativeIncludeDir; oldIncludeDir=$prefix/$relativeOldIncludeDir
	docDir=$prefix/$relativeDocDir; infoDir=$prefix/$relativeInfoDir; manDir=$prefix/$relativeManDir
	libExecDir=$prefix/$relativeLibExecDir; sharedStateDir=$prefix/$relativeSharedStateDir
	localStateDir=$prefix/$relativeLocalStateDir
	configureDirVariables="prefix sysconfDir dataDir dataRootDir binDir sbinDir libDir includeDir oldIncludeDir docDir infoDir manDir libExecDir sharedStateDir localStateDir"
	configureDirArgs="--prefix=$prefix --sysconfdir=$sysconfDir --datadir=$dataDir --datarootdir=$dataRootDir --bindir=$binDir --sbindir=$sbinDir --libdir=$libDir --includedir=$includeDir --oldincludedir=$oldIncludeDir --docdir=$docDir --infodir=$infoDir --mandir=$manDir --libexecdir=$libExecDir --sharedstatedir=$sharedStateDir --localstatedir=$localStateDir"
	cmakeDirArgs="-DCMAKE_INSTALL_PREFIX=$prefix -DCMAKE_INSTALL_SYSCONFDIR=$sysconfDir -DCMAKE_INSTALL_DATADIR=$relativeDataDir -DCMAKE_INSTALL_DATAROOTDIR=$relativeDataRootDir -DCMAKE_INSTALL_BINDIR=$relativeBinDir -DCMAKE_INSTALL_SBINDIR=$relativeSbinDir -DCMAKE_INSTALL_LIBDIR=$relativeLibDir -DCMAKE_INSTALL_INCLUDEDIR=$relativeIncludeDir -DCMAKE_INSTALL_OLDINCLUDEDIR=$relativeOldIncludeDir -DCMAKE_INSTALL_DOCDIR=$relativeDocDir -DCMAKE_INSTALL_INFODIR=$relativeInfoDir -DCMAKE_INSTALL_MANDIR=$relativeManDir -DCMAKE_INSTALL_LIBEXECDIR=$relativeLibExecDir -DCMAKE_INSTALL_SHAREDSTATEDIR=$relativeSharedStateDir -DCMAKE_INSTALL_LOCALSTATEDIR=$relativeLocalStateDir"

	relativeAddOnsDir=add-ons$secondaryArchSubDir; relativeAppsDir=apps
	relativeDebugInfoDir=develop/debug; relativeDevelopDir=develop
	relativeDevelopDocDir=develop/documentation/$portName
	relativeDevelopLibDir=develop/lib$secondaryArchSubDir
	relativeDocumentationDir=documentation; relativeFontsDir=data/fonts
	relativePostInstallDir=boot/post-install; relativePreUninstallDir=boot/pre-uninstall
	relativePreferencesDir=preferences; relativeSettingsDir=settings
	addOnsDir=$prefix/$relativeAddOnsDir; appsDir=$prefix/$relativeAppsDir
	debugInfoDir=$prefix/$relativeDebugInfoDir; developDir=$prefix/$relativeDevelopDir
	developDocDir=$prefix/$relativeDevelopDocDir; developLibDir=$prefix/$relativeDevelopLibDir
	documentationDir=$prefix/$relativeDocumentationDir; fontsDir=$prefix/$relativeFontsDir
	postInstallDir=$prefix/$relativePostInstallDir; preUninstallDir=$prefix/$relativePreUninstallDir
	preferencesDir=$prefix/$relativePreferencesDir; settingsDir=$prefix/$relativeSettingsDir
	revisionVariables="portRevision portFullVersion portRevisionedName portPackageLinksDir $configureDirVariables configureDirArgs cmakeDirArgs addOnsDir appsDir debugInfoDir developDir developDocDir developLibDir documentationDir fontsDir postInstallDir preUninstallDir preferencesDir settingsDir"
}

while IFS=$'\t' read -r bmRecipe portName portBaseName portVersion portBaseDir bmSecondaryArch; do
	(
		portVersionedName=$portName-$portVersion
		if [[ -n $bmSecondaryArch ]]; then
			secondaryArchSuffix=_$bmSecondaryArch
			secondaryArchSubDir=/$bmSecondaryArch
			effectiveTargetArchitecture=$bmSecondaryArch
		else
			secondaryArchSuffix=
			secondaryArchSubDir=
			effectiveTargetArchitecture=$targetArchitecture
		fi
		machineTripleFor "$effectiveTargetArchitecture"
		effectiveTargetMachineTriple=$triple
		effectiveTargetMachineTripleAsName=${triple//-/_}
		unset triple bmSecondaryArch
		SOURCE_DIR=$portBaseName-$portVersion
		fileToParse=$bmRecipe
		setPortVariables '$REVISION'

		# A failing command otherwise ends the subshell silently; say which one, as bash would for a
		# syntax error.
		trap 'bmRc=$?; printf "%s: line %d: \`%s\x27 failed with status %d\n" "$bmRecipe" "$LINENO" "$BASH_COMMAND" "$bmRc" >&2' ERR
		set -e
		. "$bmRecipe" >/dev/null
		set +e
		# The recipe may have changed the locale (lengths must stay in bytes), IFS, or shadowed
		# printf with a function; none of that may corrupt the reply.
		LC_ALL=C
		# One write for the whole reply: a printf per variable costs more than the recipe.
		bmAllNames
		bmReply=
		for bmKey in "${bmNames[@]}"; do
			if [[ -n ${!bmKey+set} ]]; then
				bmValue=${!bmKey}
				bmReply+="=$bmKey ${#bmValue}"$'\n'"$bmValue"$'\n'
			fi
		done
		builtin printf '%s' "$bmReply"
	) </dev/null 2>"$BM_ERR_FILE"
	bmStatus=$?
	if ((bmStatus != 0)); then
		bmError=
		IFS= read -r -d '' bmError <"$BM_ERR_FILE"
		printf '!ERR %d\n%s\n' "${#bmError}" "$bmError"
	fi
	printf '.END %d\n' "$bmStatus"
done
