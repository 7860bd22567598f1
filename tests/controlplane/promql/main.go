// promql-check parses PromQL expressions with Prometheus' own parser
// (github.com/prometheus/prometheus/promql/parser), for the chart tests: it reads a JSON
// array of expressions on stdin and writes, for each, the parse error or the metric names
// its selectors name, as a JSON array in the same order. Exit status 0 unless the input is
// not a JSON array of strings.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

type result struct {
	Expr    string   `json:"expr"`
	Error   string   `json:"error,omitempty"`
	Metrics []string `json:"metrics"`
}

func main() {
	var exprs []string
	if err := json.NewDecoder(os.Stdin).Decode(&exprs); err != nil {
		fmt.Fprintf(os.Stderr, "promql-check: stdin must be a JSON array of strings: %v\n", err)
		os.Exit(2)
	}
	// The default options: what a Prometheus server accepts without feature flags.
	promql := parser.NewParser(parser.Options{})
	results := make([]result, 0, len(exprs))
	for _, expr := range exprs {
		r := result{Expr: expr, Metrics: []string{}}
		parsed, err := promql.ParseExpr(expr)
		if err != nil {
			r.Error = err.Error()
		} else {
			seen := map[string]bool{}
			parser.Inspect(parsed, func(node parser.Node, _ []parser.Node) error {
				if vs, ok := node.(*parser.VectorSelector); ok {
					for _, m := range vs.LabelMatchers {
						if m.Name == labels.MetricName && m.Type == labels.MatchEqual {
							seen[m.Value] = true
						}
					}
				}
				return nil
			})
			for name := range seen {
				r.Metrics = append(r.Metrics, name)
			}
			sort.Strings(r.Metrics)
		}
		results = append(results, r)
	}
	if err := json.NewEncoder(os.Stdout).Encode(results); err != nil {
		fmt.Fprintf(os.Stderr, "promql-check: %v\n", err)
		os.Exit(1)
	}
}
