package signal

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

//go:embed schema/*.json
var schemaFS embed.FS

// Schema files, by what they describe.
const (
	SchemaBlock  = "block.v1.json"
	SchemaMatch  = "match.v1.json"
	SchemaStream = "stream.v1.json"
	SchemaJob    = "job.v1.json"
)

// Schema returns the JSON schema file named name (SchemaBlock, ...).
func Schema(name string) []byte {
	raw, _ := schemaFS.ReadFile("schema/" + name)
	return raw
}

// BlockSchema returns the JSON schema of block signals.
func BlockSchema() []byte { return Schema(SchemaBlock) }

var compiledSchemas = sync.OnceValues(func() (map[string]*jsonschema.Schema, error) {
	entries, err := schemaFS.ReadDir("schema")
	if err != nil {
		return nil, fmt.Errorf("signal: schemas: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	out := make(map[string]*jsonschema.Schema)
	for _, e := range entries {
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(Schema(e.Name())))
		if err != nil {
			return nil, fmt.Errorf("signal: schema %s: %w", e.Name(), err)
		}
		if err := c.AddResource(e.Name(), doc); err != nil {
			return nil, fmt.Errorf("signal: schema %s: %w", e.Name(), err)
		}
	}
	for _, e := range entries {
		s, err := c.Compile(e.Name())
		if err != nil {
			return nil, fmt.Errorf("signal: schema %s: %w", e.Name(), err)
		}
		out[e.Name()] = s
	}
	return out, nil
})

// Validate checks raw against the schema file named name.
func Validate(name string, raw []byte) error {
	all, err := compiledSchemas()
	if err != nil {
		return err
	}
	s, ok := all[name]
	if !ok {
		return fmt.Errorf("signal: no schema %q", name)
	}
	if len(raw) > MaxEventBytes {
		return fmt.Errorf("%w: %d bytes", ErrEventTooLarge, len(raw))
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidEvent, err)
	}
	if err := s.Validate(inst); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidEvent, err)
	}
	if err := unambiguous(raw); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidEvent, err)
	}
	return nil
}

// knownKeys are the member names of every object in Vigil's events and
// jobs.
var knownKeys = sync.OnceValue(func() map[string]bool {
	known := map[string]bool{}
	var walk func(t reflect.Type)
	seen := map[reflect.Type]bool{}
	walk = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || seen[t] {
			return
		}
		seen[t] = true
		for i := range t.NumField() {
			f := t.Field(i)
			if name, _, _ := strings.Cut(f.Tag.Get("json"), ","); name != "" && name != "-" {
				known[name] = true
			}
			walk(f.Type)
		}
	}
	for _, v := range []any{Event{}, MatchEvent{}, StreamEvent{}, Job{}} {
		walk(reflect.TypeOf(v))
	}
	return known
})

// unambiguous refuses a document that the schema and Go's decoder would
// read differently: a member name that differs from one of Vigil's only
// by case (the schema ignores it, encoding/json folds case and would use
// it) or a name given twice in one object.
func unambiguous(raw []byte) error {
	known := knownKeys()
	dec := json.NewDecoder(bytes.NewReader(raw))
	type object struct{ names map[string]bool }
	var stack []*object // nil entries are arrays
	expectKey := false
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{':
				stack = append(stack, &object{names: map[string]bool{}})
				expectKey = true
				continue
			case '[':
				stack = append(stack, nil)
			case '}', ']':
				stack = stack[:len(stack)-1]
			}
		case string:
			if expectKey {
				obj := stack[len(stack)-1]
				if obj.names[v] {
					return fmt.Errorf("member %q given twice", v)
				}
				obj.names[v] = true
				if !known[v] {
					for k := range known {
						if strings.EqualFold(k, v) {
							return fmt.Errorf("member %q differs from %q only by case", v, k)
						}
					}
				}
				expectKey = false
				continue
			}
		}
		// After a value, an object expects its next key.
		expectKey = len(stack) > 0 && stack[len(stack)-1] != nil
	}
}

// ValidateBlock checks raw against the block schema.
func ValidateBlock(raw []byte) error { return Validate(SchemaBlock, raw) }

// SchemaForType names the schema of events of CloudEvents type typ, or ""
// for a type this package does not know.
func SchemaForType(typ string) string {
	switch typ {
	case TypeBlock:
		return SchemaBlock
	case TypeMatch:
		return SchemaMatch
	case TypeStreamStarted, TypeStreamEnded, TypeStreamRefused:
		return SchemaStream
	}
	return ""
}

// ValidateEvent checks raw against the schema of its own type and returns
// the type.
func ValidateEvent(raw []byte) (string, error) {
	if len(raw) > MaxEventBytes {
		return "", fmt.Errorf("%w: %d bytes", ErrEventTooLarge, len(raw))
	}
	var head struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return "", fmt.Errorf("%w: %v", ErrInvalidEvent, err)
	}
	name := SchemaForType(head.Type)
	if name == "" {
		return head.Type, fmt.Errorf("%w: unknown type %q", ErrInvalidEvent, head.Type)
	}
	return head.Type, Validate(name, raw)
}

// ParseBlock validates raw against the block schema and decodes it.
func ParseBlock(raw []byte) (Event, error) { return parse[Block](SchemaBlock, raw) }

// ParseMatch validates raw against the match schema and decodes it.
func ParseMatch(raw []byte) (MatchEvent, error) { return parse[MatchData](SchemaMatch, raw) }

// ParseStreamEvent validates raw against the stream event schema and
// decodes it.
func ParseStreamEvent(raw []byte) (StreamEvent, error) { return parse[StreamData](SchemaStream, raw) }

func parse[T any](schema string, raw []byte) (CloudEvent[T], error) {
	var ev CloudEvent[T]
	if err := Validate(schema, raw); err != nil {
		return ev, err
	}
	if err := json.Unmarshal(raw, &ev); err != nil {
		return CloudEvent[T]{}, fmt.Errorf("%w: %v", ErrInvalidEvent, err)
	}
	return ev, nil
}
