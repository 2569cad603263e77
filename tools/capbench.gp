# capbench.gp - the figure of docs/BENCHMARKS.md (make bench-report).
#   gnuplot -e "datafile='hold.dat'; outfile='x.png'" tools/capbench.gp
# datafile: capbench --dat output (procs, then pairs/s per method).
set terminal pngcairo size 960,540 font ",10"
set output outfile
set title "Hold pair (take one unit + give it back): pairs/s, all processes"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set datafile missing "?"
set logscale y
set format y "10^{%L}"
set yrange [1000:*]
set ylabel "pairs per second (log scale)"
set xlabel "processes"
set key outside right top
set grid ytics
plot datafile using 2:xtic(1) title "capbroker (crash-safe)", \
     '' using 3 title "POSIX sem (leaks on crash)", \
     '' using 4 title "SysV sem, SEM\\_UNDO", \
     '' using 5 title "flock counter", \
     '' using 6 title "Redis Lua lease", \
     '' using 7 title "protocol floor (8 RMW)", \
     '' using 8 title "store floor (2 RMW + stores)"
