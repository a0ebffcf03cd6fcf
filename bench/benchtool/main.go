// Command benchtool is the Go half of bench/run.sh: the steps that need
// precise timing or JSON (creating routes through the admin API, timing
// route applies and start-ups, reading the heap of a running Caddy,
// running a cluster of Caddy nodes on PostgreSQL and timing how changes
// propagate) and the report that turns every sample into RESULTS.md.
// Each subcommand prints samples as "name<TAB>value<TAB>unit" lines for
// run.sh to collect.
//
//	benchtool session  -admin A -dash URL                  → cookie value
//	benchtool seed     -admin A -upstream URL -from I -to J [-rate-limit N]
//	benchtool apply    -admin A -url URL -host H -reps N -name S
//	benchtool load     -admin A -url URL -host H -reps N -name S -a F -b F
//	benchtool wait     [-pid P] -url URL -host H [-status C] [-since NS -name S]
//	benchtool heap     -admin A -name S
//	benchtool native   -n N -port P -upstream HOST:PORT -admin A -version V
//	benchtool middle   -config F                            → host
//	benchtool ports    -n N                                 → free ports
//	benchtool cluster  -caddy BIN [-dsn URL] -nodes N -changes K [-upstream A -runs R -duration D]
//	benchtool cluster  -check [-dsn URL]                    → PostgreSQL version
//	benchtool report   -dir D -out RESULTS.md
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: benchtool session|seed|apply|load|wait|heap|native|middle|ports|cluster|report [flags]")
		os.Exit(2)
	}
	cmds := map[string]func([]string) error{
		"session": cmdSession,
		"seed":    cmdSeed,
		"apply":   cmdApply,
		"load":    cmdLoad,
		"wait":    cmdWait,
		"heap":    cmdHeap,
		"native":  cmdNative,
		"middle":  cmdMiddle,
		"cluster": cmdCluster,
		"ports":   cmdPorts,
		"report":  cmdReport,
	}
	cmd, ok := cmds[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "benchtool: unknown command %q\n", os.Args[1])
		os.Exit(2)
	}
	if err := cmd(os.Args[2:]); err != nil {
		fmt.Fprintf(os.Stderr, "benchtool %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

// sample prints one measurement for run.sh to collect.
func sample(name string, value float64, unit string) {
	fmt.Printf("%s\t%g\t%s\n", name, value, unit)
}
