"""A shell stand-in for git's ``git-sh-i18n--envsubst`` (2.3 MB of program for message text).

git-sh-setup's ``eval_gettext`` (git-sh-i18n, fallthrough scheme: the image has no
gettext.sh) pipes each message through ``git sh-i18n--envsubst``, and git-submodule runs it
at every start: sourcing git-sh-setup builds LONG_USAGE with eval_gettext. Without the
program, every ``git submodule`` prints "'sh-i18n--envsubst' is not a git command" and
git's script messages lose their text. Debian's program is a copy of gettext's envsubst
linked with all of libgit (2.3 MB); the two calls git makes need only this much dash:

- ``--variables FORMAT``: print the name of each ``$NAME`` or ``${NAME}`` in FORMAT;
- ``FORMAT``: copy stdin to stdout, replacing the references to those names by the
  variables' values (empty when unset); other ``$`` text is left as it is.

tests/unit/test_envsubst.py compares it with git's program on the host.
"""

PATH = "/usr/lib/git-core/git-sh-i18n--envsubst"

# ${x%%pattern} and ${x#pattern} walk the text; names are checked against
# [A-Za-z_][A-Za-z0-9_]* before the one eval reads a variable, so the eval runs no text.
SCRIPT = r"""#!/bin/sh
# docker-from-scratch's stand-in for git's git-sh-i18n--envsubst (see builder/envsubst.py).
set -f
names() {  # the names referred to in $1, space-separated, into $found
	found= rest=$1
	while :; do
		case $rest in *'$'*) ;; *) return ;; esac
		rest=${rest#*\$}
		case $rest in
		'{'[A-Za-z_]*)
			name=${rest#?}; name=${name%%[!A-Za-z0-9_]*}
			case ${rest#?"$name"} in '}'*) found="$found $name" ;; esac ;;
		[A-Za-z_]*)
			found="$found ${rest%%[!A-Za-z0-9_]*}" ;;
		esac
	done
}
if [ "$1" = --variables ]; then
	[ $# -eq 2 ] || { echo "usage: git sh-i18n--envsubst [--variables] FORMAT" >&2; exit 1; }
	names "$2"
	for name in $found; do printf '%s\n' "$name"; done
	exit 0
fi
[ $# -eq 1 ] || { echo "usage: git sh-i18n--envsubst [--variables] FORMAT" >&2; exit 1; }
names "$1"
newline='
'
text=
while IFS= read -r line; do text=$text$line$newline; done
rest=$text$line out=
while :; do
	case $rest in *'$'*) ;; *) break ;; esac
	out=$out${rest%%\$*}; rest=${rest#*\$}
	name= tail=
	case $rest in
	'{'[A-Za-z_]*)
		candidate=${rest#?}; candidate=${candidate%%[!A-Za-z0-9_]*}
		case ${rest#?"$candidate"} in '}'*) name=$candidate tail=${rest#?"$candidate"?} ;; esac ;;
	[A-Za-z_]*)
		name=${rest%%[!A-Za-z0-9_]*}; tail=${rest#"$name"} ;;
	esac
	case "$name: $found " in
	:*) out=$out'$' ;;
	*": "*" $name "*) eval "value=\${$name-}"; out=$out$value rest=$tail ;;
	*) out=$out'$' ;;
	esac
done
printf '%s' "$out$rest"
"""
