# bash completion for shmq-stat(1): its options and the values of those
# that take a few; channel names for --channel from "shmq ls". Installed by
# meson as "shmq-stat" in the bash-completion directory.

_shmq_stat()
{
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
	local opts="--once --json --watch --prometheus --listen --allow-uid --tcp-exposes-all
		--path --channel --sort --interval --count --color --socket --help --version"

	case $prev in
	--socket) COMPREPLY=($(compgen -f -- "$cur")); return ;;
	--listen) COMPREPLY=($(compgen -W "unix: 127.0.0.1:" -- "$cur")); return ;;
	--allow-uid) COMPREPLY=($(compgen -u -- "$cur")); return ;;
	--sort) COMPREPLY=($(compgen -W "name rate bytes depth drops lag" -- "$cur")); return ;;
	--color) COMPREPLY=($(compgen -W "always never auto" -- "$cur")); return ;;
	--watch | --interval) COMPREPLY=($(compgen -W "1 5 500ms 1m" -- "$cur")); return ;;
	--channel)
		COMPREPLY=($(compgen -W "$(shmq ls 2>/dev/null | while read -r n _; do
			printf '%s\n' "$n"; done)" -- "$cur"))
		return ;;
	--path | --count) return ;;
	esac
	COMPREPLY=($(compgen -W "$opts" -- "$cur"))
}

complete -F _shmq_stat shmq-stat
