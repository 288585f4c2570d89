package signal

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
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
	return nil
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
