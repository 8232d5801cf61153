# fish completion for shmq-stat(1): its options and the values of those
# that take a few. Installed by meson into fish's vendor_completions.d.

complete -c shmq-stat -f
complete -c shmq-stat -l once -d 'print one text snapshot and exit'
complete -c shmq-stat -l json -d 'print one snapshot as JSON'
complete -c shmq-stat -l watch -x -d 'with --json, a snapshot every interval'
complete -c shmq-stat -l prometheus -d 'print the Prometheus text format'
complete -c shmq-stat -l listen -x -a 'unix: 127.0.0.1:' -d 'serve it over HTTP'
complete -c shmq-stat -l allow-uid -x -a '(__fish_complete_users)' -d 'another user who may scrape'
complete -c shmq-stat -l tcp-exposes-all -d 'serve on TCP, every channel this uid sees'
complete -c shmq-stat -l path -x -d 'the metrics path'
complete -c shmq-stat -l channel -x -a '(shmq ls 2>/dev/null | string replace -r " .*" "")' -d 'only channels matching a glob'
complete -c shmq-stat -l sort -x -a 'name rate bytes depth drops lag' -d 'live view order'
complete -c shmq-stat -l interval -x -d 'live view refresh'
complete -c shmq-stat -l count -x -d 'stop after N refreshes'
complete -c shmq-stat -l color -x -a 'always never auto' -d 'colour the output'
complete -c shmq-stat -l socket -r -F -d "shmqd's control socket"
complete -c shmq-stat -s h -l help -d 'print help'
complete -c shmq-stat -s V -l version -d 'print the version'
