package signal

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Join jobs. They wait in a work-queue stream, StreamJobs, read through one
// durable pull consumer, JobsConsumer, that every node shares: JetStream
// hands each job to one node at a time. A node asks for a job only when it
// has room under its capacity, reports progress while the job runs
// (InProgress every JobsProgressEvery), and acknowledges it when the
// stream is over. If the node dies, its job is redelivered to another
// node once JobsAckWait has passed without progress; if it shuts down,
// it hands the job back at once.
const (
	StreamJobs        = "VIGIL_JOBS"
	SubjectJoin       = "vigil.jobs.join"
	JobsConsumer      = "vigil-nodes"
	JobsAckWait       = 10 * time.Second
	JobsProgressEvery = JobsAckWait / 4
	// JobsMaxAttempts bounds how often a job whose stream fails is tried
	// (each time on whichever node claims it) before it is given up.
	JobsMaxAttempts = 5
)

// Job asks the fleet to watch a stream served elsewhere.
type Job struct {
	ID          string    `json:"id"`
	URL         string    `json:"url"`
	Name        string    `json:"name"`
	Protocol    string    `json:"protocol"`
	Token       string    `json:"token,omitempty"`
	SubmittedAt time.Time `json:"submitted_at"`
	SubmittedBy string    `json:"submitted_by,omitempty"`
}

// ParseJob validates raw against the job schema and decodes it.
func ParseJob(raw []byte) (Job, error) {
	var j Job
	if err := Validate(SchemaJob, raw); err != nil {
		return j, err
	}
	if err := json.Unmarshal(raw, &j); err != nil {
		return Job{}, fmt.Errorf("%w: %v", ErrInvalidEvent, err)
	}
	return j, nil
}

// Jobs creates or updates the job stream and its shared consumer.
func (b *Bus) Jobs(ctx context.Context) (jetstream.Consumer, error) {
	_, err := b.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        StreamJobs,
		Description: "Vigil join jobs: one node claims each",
		Subjects:    []string{"vigil.jobs.>"},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    b.cfg.Replicas,
		MaxAge:      7 * 24 * time.Hour,
		MaxMsgSize:  64 << 10,
		Duplicates:  10 * time.Minute,
	})
	if err != nil {
		return nil, fmt.Errorf("signal: stream %s: %w", StreamJobs, err)
	}
	cons, err := b.js.CreateOrUpdateConsumer(ctx, StreamJobs, jetstream.ConsumerConfig{
		Durable:       JobsConsumer,
		Description:   "Vigil nodes claiming join jobs",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       JobsAckWait,
		MaxDeliver:    -1,
		FilterSubject: "vigil.jobs.>",
		Replicas:      b.cfg.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("signal: consumer %s: %w", JobsConsumer, err)
	}
	return cons, nil
}

// SubmitJob queues j for the fleet; its id is the Nats-Msg-Id, so
// submitting the same job twice within ten minutes queues it once.
func (b *Bus) SubmitJob(ctx context.Context, j Job) error {
	raw, err := json.Marshal(j)
	if err != nil {
		return fmt.Errorf("signal: job %s: %w", j.ID, err)
	}
	if err := Validate(SchemaJob, raw); err != nil {
		return fmt.Errorf("signal: job %s: %w", j.ID, err)
	}
	msg := nats.NewMsg(SubjectJoin)
	msg.Data = raw
	ctx, cancel := context.WithTimeout(ctx, b.cfg.PublishTimeout)
	defer cancel()
	if _, err := b.js.PublishMsg(ctx, msg, jetstream.WithMsgID(j.ID)); err != nil {
		return fmt.Errorf("signal: submit job %s: %w", j.ID, err)
	}
	return nil
}
