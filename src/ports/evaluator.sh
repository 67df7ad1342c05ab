# buildmaster recipe evaluator: one long-lived bash per worker (see src/ports/evaluate.rs).
#
# HaikuPorter starts one bash per recipe (ConfigParser.py + ShellScriptlets.configFileEvaluatorScript);
# starting bash costs far more than sourcing a recipe, so this worker reads jobs from stdin and
# evaluates each recipe in its own subshell `( … )`: a recipe cannot leak variables, functions,
# options or a changed directory into the next one, and `set -e` inside the subshell mirrors
# HaikuPorter's "stop on every error" without ending the worker.
#
# Job (one line, tab-separated):
#   preparedRecipe  portName  portVersion  portBaseDir  secondaryArch
# Reply, for every job, on stdout:
#   zero or more  "=KEY LENGTH\n<LENGTH bytes of value>\n"
#   on failure    "!ERR LENGTH\n<LENGTH bytes of bash's stderr>\n"
#   then          ".END STATUS\n"
# LENGTH is ${#value}, bytes because the worker runs with LC_ALL=C.
#
# Set by the caller in the environment: targetArchitecture, buildArchitecture, targetMachineTriple,
# buildMachineTriple (+ …AsName), BM_ERR_FILE (where a recipe's stderr goes).

machineTripleFor() {
	# HaikuPorter's MachineArchitecture.getTripleFor, without a fork.
	case $1 in
		x86_gcc2|x86) triple=i586-pc-haiku ;;
		x86_64) triple=x86_64-unknown-haiku ;;
		arm) triple=arm-unknown-haiku ;;
		arm64) triple=aarch64-unknown-haiku ;;
		ppc) triple=powerpc-apple-haiku ;;
		riscv64) triple=riscv64-unknown-haiku ;;
		sparc) triple=sparc64-unknown-haiku ;;
		m68k) triple=m68k-unknown-haiku ;;
		*) triple=$1-unknown-haiku ;;
	esac
}

# Port._updateShellVariables: everything that depends on REVISION. Called once before the recipe is
# sourced and again after every `REVISION="…"` assignment (the caller's prepared copy of the recipe
# appends "; updateRevisionVariables" to those, as HaikuPorter's validateRecipeFile does).
updateRevisionVariables() {
	portRevision=$REVISION
	portFullVersion=$portVersion-$REVISION
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
	relativePostInstallDir=boot/post-install; relativePreferencesDir=preferences
	relativeSettingsDir=settings
	addOnsDir=$prefix/$relativeAddOnsDir; appsDir=$prefix/$relativeAppsDir
	debugInfoDir=$prefix/$relativeDebugInfoDir; developDir=$prefix/$relativeDevelopDir
	developDocDir=$prefix/$relativeDevelopDocDir; developLibDir=$prefix/$relativeDevelopLibDir
	documentationDir=$prefix/$relativeDocumentationDir; fontsDir=$prefix/$relativeFontsDir
	postInstallDir=$prefix/$relativePostInstallDir; preferencesDir=$prefix/$relativePreferencesDir
	settingsDir=$prefix/$relativeSettingsDir
}

while IFS=$'\t' read -r bmRecipe portName portVersion portBaseDir bmSecondaryArch; do
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
		SOURCE_DIR=$portName-$portVersion
		REVISION=
		updateRevisionVariables
		# Recipe conventions rather than HaikuPorter variables; recipes usually set them themselves.
		commandSuffix=$secondaryArchSuffix
		commandBinDir=$binDir

		# A failing command otherwise ends the subshell silently; say which one, as bash would for a
		# syntax error.
		trap 'bmRc=$?; printf "%s: line %d: \`%s\x27 failed with status %d\n" "$bmRecipe" "$LINENO" "$BASH_COMMAND" "$bmRc" >&2' ERR
		set -e
		. "$bmRecipe" >/dev/null
		set +e
		# The recipe may have changed the locale (lengths must stay in bytes), IFS, or shadowed
		# printf with a function; none of that may corrupt the reply.
		LC_ALL=C
		for bmKey in REVISION "${!ARCHITECTURES@}" "${!SECONDARY_ARCHITECTURES@}" "${!PROVIDES@}" \
			"${!REQUIRES@}" "${!BUILD_REQUIRES@}" "${!BUILD_PREREQUIRES@}"; do
			if [[ -n ${!bmKey+set} ]]; then
				bmValue=${!bmKey}
				builtin printf '=%s %d\n%s\n' "$bmKey" "${#bmValue}" "$bmValue"
			fi
		done
	) </dev/null 2>"$BM_ERR_FILE"
	bmStatus=$?
	if ((bmStatus != 0)); then
		bmError=
		IFS= read -r -d '' bmError <"$BM_ERR_FILE"
		printf '!ERR %d\n%s\n' "${#bmError}" "$bmError"
	fi
	printf '.END %d\n' "$bmStatus"
done
