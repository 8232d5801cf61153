# bash completion for shmq(1): commands (and their other names), each
# command's options, the values of the options that take a few, and
# channel names from "shmq ls". Installed by meson as "shmq" in the
# bash-completion directory. tests/docs/check_completion.sh compares the
# options here with "shmq help COMMAND".

_shmq_channels()
{
	local sock=() i
	for ((i = 1; i < COMP_CWORD; i++)); do
		case ${COMP_WORDS[i]} in
		-s | --socket) sock=(--socket "${COMP_WORDS[i + 1]}") ;;
		esac
	done
	"${COMP_WORDS[0]}" "${sock[@]}" ls 2>/dev/null | while read -r name _; do
		printf '%s\n' "$name"
	done
}

_shmq()
{
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
	local cmd="" i nargs=0
	local global="--socket --help --version"
	local chan="--capacity --max-message --policy --publishers --numa --no-timestamps
		--dedupe-slots --durable"
	local pub="--create --null --length-prefixed --json --file --count --rate --key --header
		--msg-id --corr-id --content-type --reply-to --ttl --confirm"
	local sub="--create --wait-channel --from --last --count --timeout --exit-at-end --wait
		--group --ack --format --json --raw --length-prefixed --key --key-prefix --header
		--content-type --expired"
	local cmds="ls list create rm remove delete info repair pub publish sub subscribe groups group
		request reply journal help"

	for ((i = 1; i < COMP_CWORD; i++)); do
		case ${COMP_WORDS[i]} in
		-s | --socket | --capacity | --max-message | --policy | --publishers | --numa | \
			-n | --count | --from | --last | -t | --timeout | --wait | -f | --format | \
			-F | --file | --rate | -k | --key | -H | --header | --msg-id | --corr-id | \
			--content-type | --reply-to | --key-prefix | --ttl | --exec | --dedupe-slots | \
			--durable)
			((i++)) ;;
		-*) ;;
		*)
			if [[ -z $cmd ]]; then cmd=${COMP_WORDS[i]}; else ((nargs++)); fi
			;;
		esac
	done
	case $cmd in
	list) cmd=ls ;;
	remove | delete) cmd=rm ;;
	publish) cmd=pub ;;
	subscribe) cmd=sub ;;
	esac

	case $prev in
	-s | --socket | -F | --file)
		COMPREPLY=($(compgen -f -- "$cur"))
		return ;;
	--policy) COMPREPLY=($(compgen -W "block drop" -- "$cur")); return ;;
	--publishers) COMPREPLY=($(compgen -W "one many" -- "$cur")); return ;;
	--numa) COMPREPLY=($(compgen -W "none local" -- "$cur")); return ;;
	--durable) COMPREPLY=($(compgen -W "os batch always" -- "$cur")); return ;;
	--from) COMPREPLY=($(compgen -W "earliest latest last" -- "$cur")); return ;;
	--wait) COMPREPLY=($(compgen -W "spin-sleep spin sleep event" -- "$cur")); return ;;
	-t | --timeout) COMPREPLY=($(compgen -W "1s 500ms 10s 1m" -- "$cur")); return ;;
	--reply-to) COMPREPLY=($(compgen -W "$(_shmq_channels)" -- "$cur")); return ;;
	--capacity | --max-message | -n | --count | --last | -f | --format | --rate | \
		-k | --key | -H | --header | --msg-id | --corr-id | --content-type | --key-prefix | --ttl | \
		--exec | --dedupe-slots)
		return ;;
	esac

	if [[ -z $cmd ]]; then
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "$global" -- "$cur"))
		else
			COMPREPLY=($(compgen -W "$cmds" -- "$cur"))
		fi
		return
	fi

	if [[ $cur == -* ]]; then
		case $cmd in
		create) COMPREPLY=($(compgen -W "$global $chan" -- "$cur")) ;;
		pub) COMPREPLY=($(compgen -W "$global $chan $pub" -- "$cur")) ;;
		sub) COMPREPLY=($(compgen -W "$global $chan $sub" -- "$cur")) ;;
		ls | info) COMPREPLY=($(compgen -W "$global --json" -- "$cur")) ;;
		request) COMPREPLY=($(compgen -W "$global --timeout" -- "$cur")) ;;
		reply) COMPREPLY=($(compgen -W "$global --echo --exec --count" -- "$cur")) ;;
		*) COMPREPLY=($(compgen -W "$global" -- "$cur")) ;;
		esac
		return
	fi

	case $cmd in
	help) ((nargs == 0)) && COMPREPLY=($(compgen -W "$cmds" -- "$cur")) ;;
	rm | info | repair | pub | sub | groups | request | reply)
		((nargs == 0)) && COMPREPLY=($(compgen -W "$(_shmq_channels)" -- "$cur")) ;;
	journal)
		((nargs == 0)) && COMPREPLY=($(compgen -W "verify" -- "$cur"))
		((nargs == 1)) && COMPREPLY=($(compgen -d -- "$cur")) ;;
	group)
		((nargs == 0)) && COMPREPLY=($(compgen -W "rm" -- "$cur"))
		((nargs == 1)) && COMPREPLY=($(compgen -W "$(_shmq_channels)" -- "$cur")) ;;
	esac
}

complete -F _shmq shmq
