// Checks generated Go key packages against the conformance corpus the Rust codec wrote:
// `go run . NAME=CORPUS.jsonl ...`, NAME being a package registered in packages.go. Prints
// "agree N of M" per corpus and each disagreement; exits 1 on any.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
)

type value struct {
	Text   string
	Layout int
	Parts  map[string]string
}

func (v *value) UnmarshalJSON(data []byte) error {
	if len(data) > 0 && data[0] == '"' {
		return json.Unmarshal(data, &v.Text)
	}
	var layout struct {
		Layout int               `json:"layout"`
		Parts  map[string]string `json:"parts"`
	}
	err := json.Unmarshal(data, &layout)
	v.Layout, v.Parts = layout.Layout, layout.Parts
	return err
}

type parsed struct {
	Error  bool             `json:"error"`
	Key    string           `json:"key"`
	Values map[string]value `json:"values"`
	Slot   uint16           `json:"slot"`
}

type vector struct {
	Op     string            `json:"op"`
	Key    string            `json:"key"`
	Values map[string]value  `json:"values"`
	Input  string            `json:"input"`
	Env    map[string]string `json:"env"`
	Expect struct {
		Error  bool             `json:"error"`
		Key    string           `json:"key"`
		Values map[string]value `json:"values"`
		Slot   uint16           `json:"slot"`
		Parsed *parsed          `json:"parsed"`
		Never  bool             `json:"never"`
		Millis string           `json:"millis"`
	} `json:"expect"`
}

type api struct {
	format func(key string, values map[string]value) (string, error)
	parse  func(key string) (string, map[string]value, uint16, error)
	slot   func(key string) uint16
	ttl    func(key string, lookup func(string) (string, bool)) (uint64, bool, error)
}

func parseResult(a api, key string) parsed {
	name, values, slot, err := a.parse(key)
	if err != nil {
		return parsed{Error: true}
	}
	return parsed{Key: name, Values: values, Slot: slot}
}

func check(a api, v vector) string {
	switch v.Op {
	case "format":
		key, err := a.format(v.Key, v.Values)
		if v.Expect.Error || err != nil {
			if v.Expect.Error && err != nil {
				return ""
			}
			return fmt.Sprintf("format %s %v: got %q, %v; want error %v", v.Key, v.Values, key, err, v.Expect.Error)
		}
		if key != v.Expect.Key || a.slot(key) != v.Expect.Slot {
			return fmt.Sprintf("format %s %v: got %q slot %d; want %q slot %d", v.Key, v.Values, key, a.slot(key), v.Expect.Key, v.Expect.Slot)
		}
		if got := parseResult(a, key); !reflect.DeepEqual(got, *v.Expect.Parsed) {
			return fmt.Sprintf("parse %q: got %+v; want %+v", key, got, *v.Expect.Parsed)
		}
	case "parse":
		want := parsed{Error: v.Expect.Error, Key: v.Expect.Key, Values: v.Expect.Values, Slot: v.Expect.Slot}
		if got := parseResult(a, v.Input); !reflect.DeepEqual(got, want) {
			return fmt.Sprintf("parse %q: got %+v; want %+v", v.Input, got, want)
		}
	case "ttl":
		lookup := func(name string) (string, bool) {
			value, ok := v.Env[name]
			return value, ok
		}
		millis, expires, err := a.ttl(v.Key, lookup)
		got := "error"
		if err == nil && !expires {
			got = "never"
		} else if err == nil {
			got = strconv.FormatUint(millis, 10)
		}
		want := v.Expect.Millis
		if v.Expect.Error {
			want = "error"
		} else if v.Expect.Never {
			want = "never"
		}
		if got != want {
			return fmt.Sprintf("ttl %s %q: got %s; want %s", v.Key, v.Env, got, want)
		}
	default:
		return "unknown op " + v.Op
	}
	return ""
}

func main() {
	failed := false
	for _, arg := range os.Args[1:] {
		name, path, _ := strings.Cut(arg, "=")
		a, ok := packages[name]
		if !ok {
			fmt.Println("no package", name)
			os.Exit(2)
		}
		file, err := os.Open(path)
		if err != nil {
			fmt.Println(err)
			os.Exit(2)
		}
		scanner := bufio.NewScanner(file)
		scanner.Buffer(make([]byte, 1<<20), 1<<24)
		total, agree, shown := 0, 0, 0
		for scanner.Scan() {
			var v vector
			if err := json.Unmarshal(scanner.Bytes(), &v); err != nil {
				fmt.Println("bad vector:", err)
				os.Exit(2)
			}
			total++
			if problem := check(a, v); problem == "" {
				agree++
			} else if shown < 20 {
				shown++
				fmt.Println("  " + problem)
			}
		}
		file.Close()
		fmt.Printf("%s: agree %d of %d\n", name, agree, total)
		failed = failed || agree != total
	}
	if failed {
		os.Exit(1)
	}
}
