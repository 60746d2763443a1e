# usage: gnuplot -e "term='pngcairo'" throughput.gp
if (!exists("term")) term = 'pngcairo'
if (term eq 'svg') { set terminal svg size 1200,500; set output 'throughput.svg' } else { set terminal pngcairo size 1200,500; set output 'throughput.png' }
set termoption noenhanced
set datafile missing 'NaN'
set logscale x 2
set logscale y 10
set xlabel 'value size (MiB)'
set ylabel 'GB/s (1e9 B/s)'
set key top left font ',8'
set grid
set multiplot layout 1,2
set title 'put (put_from / SET)'
plot 'put.dat' u 1:2 w lp t 'memcpy (1 thread)', '' u 1:3 w lp t 'raw UCX b1', '' u 1:4 w lp t 'raw UCX b32', '' u 1:5 w lp lw 2 t 'kvplug b1', '' u 1:6 w lp lw 2 t 'kvplug b32', '' u 1:7 w lp t 'kvplug server b1', '' u 1:8 w lp t 'Redis best (purge off)'
set title 'get (get_into / GET)'
plot 'get.dat' u 1:2 w lp t 'memcpy (1 thread)', '' u 1:3 w lp t 'raw UCX b1', '' u 1:4 w lp t 'raw UCX b32', '' u 1:5 w lp lw 2 t 'kvplug b1', '' u 1:6 w lp lw 2 t 'kvplug b32', '' u 1:7 w lp t 'kvplug server b1', '' u 1:8 w lp t 'Redis best (purge off)'
unset multiplot
