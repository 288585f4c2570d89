package signal

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

//go:embed schema/block.v1.json
var blockSchemaJSON []byte

// BlockSchema returns the JSON schema of block signals.
func BlockSchema() []byte { return bytes.Clone(blockSchemaJSON) }

var blockSchema = sync.OnceValues(func() (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(blockSchemaJSON))
	if err != nil {
		return nil, fmt.Errorf("signal: block schema: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("block.v1.json", doc); err != nil {
		return nil, fmt.Errorf("signal: block schema: %w", err)
	}
	return c.Compile("block.v1.json")
})

// ParseBlock validates raw against the block schema and decodes it.
func ParseBlock(raw []byte) (Event, error) {
	if len(raw) > MaxEventBytes {
		return Event{}, fmt.Errorf("%w: %d bytes", ErrEventTooLarge, len(raw))
	}
	if err := ValidateBlock(raw); err != nil {
		return Event{}, err
	}
	var ev Event
	if err := json.Unmarshal(raw, &ev); err != nil {
		return Event{}, fmt.Errorf("%w: %v", ErrInvalidEvent, err)
	}
	return ev, nil
}

// ValidateBlock checks raw against the block schema.
func ValidateBlock(raw []byte) error {
	s, err := blockSchema()
	if err != nil {
		return err
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
