package consumer

import "time"

// Config configures one durable consumer.
type Config struct {
	Stream        string // source stream, auth-events
	Durable       string // durable name = service name
	FilterSubject string // e.g. auth.user.registered, or auth.user.*
	// FilterSubjects, when set, are the only subjects the consumer
	// receives. nats-server 2.9 has one filter per consumer: there the
	// durable keeps FilterSubject (which must cover FilterSubjects), and
	// the handler must ignore the other subjects itself.
	FilterSubjects []string
	Attempts       int             // handler failures before dead-lettering (3)
	MaxDeliveries  int             // server-side backstop on deliveries (10 x Attempts)
	Backoff        []time.Duration // delay after failure 1, 2, ... (NakWithDelay)
	AckWait        time.Duration   // server redelivers after this without an ack
	Batch          int             // messages per fetch, and per transaction of a BatchHandler
	// BatchBytes bounds the message bytes of one transaction of a
	// BatchHandler (1 MiB); a message larger than it is a batch alone.
	BatchBytes int
	// BatchLinger is how long a batch that has not reached Batch or
	// BatchBytes waits for more messages once the fetched ones are all
	// in it (0: it is applied at once, when the stream pauses).
	BatchLinger time.Duration
	// Concurrency is how many fetched messages a handler that is not a
	// BatchHandler works on at once (1: one after another). The email
	// service's SMTP_CONCURRENCY: a mail cannot be rolled back, so it is
	// sent alone, each in an SMTP session of its own, several at a time.
	Concurrency int
	DLQStream   string // dead-letter stream, auth-events-dlq
	// DLQReplicas is the dead-letter stream's replica count (0: 1); set
	// it to the event stream's (STREAM_REPLICAS), so a node lost on a
	// cluster loses no dead letter either.
	DLQReplicas   int
	StateInterval time.Duration // how often the consumer and stream state is read for metrics (5s)
	DBTimeout     time.Duration // deadline of each bookkeeping round trip to Postgres (5s)
	Retention     Retention     // how long the consumer's rows are kept (DefaultRetention())
	PruneInterval time.Duration // how often expired rows are deleted; 0: never (cmd/consumer: 10m)
	PruneBatch    int           // rows per DELETE (1000)
}

// withDefaults returns c with each zero field set to its default: stream
// auth-events, 3 attempts, DefaultBackoff, AckWait 30s, batches of 50, the
// dead-letter stream <stream>-dlq, DefaultRetention, and so on.
func (c Config) withDefaults() Config {
	if c.Stream == "" {
		c.Stream = "auth-events"
	}
	if c.Attempts <= 0 {
		c.Attempts = 3
	}
	if c.MaxDeliveries <= c.Attempts {
		c.MaxDeliveries = 10 * c.Attempts
	}
	if len(c.Backoff) == 0 {
		c.Backoff = DefaultBackoff()
	}
	if c.AckWait <= 0 {
		c.AckWait = 30 * time.Second
	}
	if c.Batch <= 0 {
		c.Batch = 50
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 1
	}
	if c.BatchBytes <= 0 {
		c.BatchBytes = 1 << 20
	}
	if c.DLQStream == "" {
		c.DLQStream = c.Stream + "-dlq"
	}
	if c.StateInterval <= 0 {
		c.StateInterval = 5 * time.Second
	}
	if c.DBTimeout <= 0 {
		c.DBTimeout = 5 * time.Second
	}
	if c.Retention == (Retention{}) {
		c.Retention = DefaultRetention()
	}
	return c
}
