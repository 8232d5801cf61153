# fish completion for shmq(1): commands (and their other names), each
# command's options, the values of the options that take a few, and
# channel names from "shmq ls". Installed by meson into fish's
# vendor_completions.d. tests/docs/check_completion.sh compares the
# options here with "shmq help COMMAND".

function __shmq_channels
    shmq ls 2>/dev/null | string replace -r ' .*' ''
end

set -l cmds ls list create rm remove delete info repair pub publish sub subscribe groups group request reply journal help
set -l chancmds create pub publish sub subscribe
set -l pubcmds pub publish
set -l subcmds sub subscribe

complete -c shmq -f
complete -c shmq -n "not __fish_seen_subcommand_from $cmds" -a 'ls list' -d 'list channels'
complete -c shmq -n "not __fish_seen_subcommand_from $cmds" -a create -d 'create a channel'
complete -c shmq -n "not __fish_seen_subcommand_from $cmds" -a 'rm remove delete' -d 'delete a channel'
complete -c shmq -n "not __fish_seen_subcommand_from $cmds" -a info -d "show a channel's settings and offsets"
complete -c shmq -n "not __fish_seen_subcommand_from $cmds" -a repair -d 'cut readers stuck at a bad record forward'
complete -c shmq -n "not __fish_seen_subcommand_from $cmds" -a 'pub publish' -d 'publish messages'
complete -c shmq -n "not __fish_seen_subcommand_from $cmds" -a 'sub subscribe' -d 'print messages'
complete -c shmq -n "not __fish_seen_subcommand_from $cmds" -a groups -d "show a channel's consumer groups"
complete -c shmq -n "not __fish_seen_subcommand_from $cmds" -a group -d 'delete a consumer group (group rm)'
complete -c shmq -n "not __fish_seen_subcommand_from $cmds" -a request -d 'publish a request and print its reply'
complete -c shmq -n "not __fish_seen_subcommand_from $cmds" -a reply -d 'answer requests'
complete -c shmq -n "not __fish_seen_subcommand_from $cmds" -a journal -d "check a durable channel's files (journal verify DIR)"
complete -c shmq -n "not __fish_seen_subcommand_from $cmds" -a help -d 'print help'
complete -c shmq -n "__fish_seen_subcommand_from journal; and not __fish_seen_subcommand_from verify" -a verify -d "read a channel's segment files as recovery would"
complete -c shmq -n "__fish_seen_subcommand_from group; and not __fish_seen_subcommand_from rm" -a rm -d 'delete a consumer group'
complete -c shmq -n "__fish_seen_subcommand_from help" -a "$cmds"
complete -c shmq -n "__fish_seen_subcommand_from rm remove delete info repair groups request reply $pubcmds $subcmds" -a '(__shmq_channels)'

complete -c shmq -s s -l socket -r -F -d "shmqd's control socket"
complete -c shmq -s h -l help -d 'print help'
complete -c shmq -s V -l version -d 'print the version'

complete -c shmq -n "__fish_seen_subcommand_from $chancmds" -l capacity -x -d 'ring bytes, 4K to 1T'
complete -c shmq -n "__fish_seen_subcommand_from $chancmds" -l max-message -x -d 'largest payload, 1 to 16M'
complete -c shmq -n "__fish_seen_subcommand_from $chancmds" -l policy -x -a 'block drop' -d 'what a full ring does'
complete -c shmq -n "__fish_seen_subcommand_from $chancmds" -l publishers -x -a 'one many' -d 'one exclusive publisher or many'
complete -c shmq -n "__fish_seen_subcommand_from $chancmds" -l numa -x -a 'none local' -d 'NUMA node of the ring'
complete -c shmq -n "__fish_seen_subcommand_from $chancmds" -l no-timestamps -d 'messages carry no publish time'
complete -c shmq -n "__fish_seen_subcommand_from $chancmds" -l dedupe-slots -x -d 'refuse repeated msg ids: table slots'
complete -c shmq -n "__fish_seen_subcommand_from $chancmds" -l durable -x -a 'os batch always' -d 'shmqd writes the messages to files'

complete -c shmq -n "__fish_seen_subcommand_from $pubcmds $subcmds" -s c -l create -d 'create the channel if missing'
complete -c shmq -n "__fish_seen_subcommand_from $pubcmds $subcmds reply" -s n -l count -x -d 'this many messages'
complete -c shmq -n "__fish_seen_subcommand_from $pubcmds $subcmds" -s L -l length-prefixed -d 'length-prefixed frames'
complete -c shmq -n "__fish_seen_subcommand_from $pubcmds" -s 0 -l null -d 'stdin holds NUL-terminated messages'
complete -c shmq -n "__fish_seen_subcommand_from $pubcmds" -s j -l json -d 'stdin holds JSON lines as sub --json writes'
complete -c shmq -n "__fish_seen_subcommand_from $pubcmds" -s F -l file -r -F -d 'publish a whole file as one message'
complete -c shmq -n "__fish_seen_subcommand_from $pubcmds" -l rate -x -d 'messages a second'
complete -c shmq -n "__fish_seen_subcommand_from $pubcmds" -s k -l key -x -d "the messages' key"
complete -c shmq -n "__fish_seen_subcommand_from $pubcmds" -s H -l header -x -d 'a user header NAME=VALUE'
complete -c shmq -n "__fish_seen_subcommand_from $pubcmds" -l msg-id -x -d 'message id of the first message'
complete -c shmq -n "__fish_seen_subcommand_from $pubcmds" -l corr-id -x -d 'correlation id'
complete -c shmq -n "__fish_seen_subcommand_from $pubcmds" -l content-type -x -d 'content type'
complete -c shmq -n "__fish_seen_subcommand_from $pubcmds" -l reply-to -x -a '(__shmq_channels)' -d 'the channel replies go to'

complete -c shmq -n "__fish_seen_subcommand_from $subcmds" -s w -l wait-channel -d 'wait for the channel to be created'
complete -c shmq -n "__fish_seen_subcommand_from $subcmds" -l from -x -a 'earliest latest last' -d 'where to start'
complete -c shmq -n "__fish_seen_subcommand_from $subcmds" -l last -x -d 'start at the last N messages'
complete -c shmq -n "__fish_seen_subcommand_from $subcmds request" -s t -l timeout -x -a '500ms 1s 10s 1m' -d 'exit 3 after this long'
complete -c shmq -n "__fish_seen_subcommand_from $pubcmds" -l ttl -x -d 'each message expires this long after it is published'
complete -c shmq -n "__fish_seen_subcommand_from $pubcmds" -l confirm -d 'exit once every message is durable'
complete -c shmq -n "__fish_seen_subcommand_from $subcmds" -l expired -d 'print expired messages too'
complete -c shmq -n "__fish_seen_subcommand_from reply" -l echo -d "reply with the request's payload"
complete -c shmq -n "__fish_seen_subcommand_from reply" -l exec -x -d 'reply with what a shell command prints'
complete -c shmq -n "__fish_seen_subcommand_from $subcmds" -s e -l exit-at-end -d 'exit once no further message is ready'
complete -c shmq -n "__fish_seen_subcommand_from $subcmds" -l wait -x -a 'spin-sleep spin sleep event' -d 'how the reader waits'
complete -c shmq -n "__fish_seen_subcommand_from $subcmds" -l group -x -d 'take messages as a member of this consumer group'
complete -c shmq -n "__fish_seen_subcommand_from $subcmds" -l ack -x -a 'auto none' -d 'when a group member acks'
complete -c shmq -n "__fish_seen_subcommand_from $subcmds" -s f -l format -x -d 'print each message as FMT says'
complete -c shmq -n "__fish_seen_subcommand_from $subcmds" -s j -l json -d 'one JSON object a line'
complete -c shmq -n "__fish_seen_subcommand_from ls list info" -s j -l json -d 'one JSON object'
complete -c shmq -n "__fish_seen_subcommand_from $subcmds" -s r -l raw -d 'payload bytes only'
complete -c shmq -n "__fish_seen_subcommand_from $subcmds" -s k -l key -x -d 'only messages of this key'
complete -c shmq -n "__fish_seen_subcommand_from $subcmds" -l key-prefix -x -d 'only messages whose key starts so'
complete -c shmq -n "__fish_seen_subcommand_from $subcmds" -s H -l header -x -d 'only messages with this header NAME=VALUE'
complete -c shmq -n "__fish_seen_subcommand_from $subcmds" -l content-type -x -d 'only messages of this content type'
