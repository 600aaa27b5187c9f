package main

import "time"

// Config is the consumer's configuration, from the environment.
type Config struct {
	DatabaseURL string `env:"DATABASE_URL" envDefault:"postgres://127.0.0.1:5432/authevents?sslmode=disable"`
	NATSURL     string `env:"NATS_URL" envDefault:"nats://127.0.0.1:4222"`
	OpsAddr     string `env:"OPS_ADDR" envDefault:"127.0.0.1:9092"`
	OpsPprof    bool   `env:"OPS_PPROF" envDefault:"false"`
	LogLevel    string `env:"LOG_LEVEL" envDefault:"info"`

	Stream        string `env:"STREAM_NAME" envDefault:"auth-events"`
	SubjectPrefix string `env:"STREAM_SUBJECT_PREFIX" envDefault:"auth."`
	DLQStream     string `env:"DLQ_STREAM" envDefault:"auth-events-dlq"`
	// StreamReplicas is the relay's setting of the same name: the
	// dead-letter stream gets as many replicas as the event stream.
	StreamReplicas int             `env:"STREAM_REPLICAS" envDefault:"1"`
	Attempts       int             `env:"CONSUMER_ATTEMPTS" envDefault:"3"`
	Backoff        []time.Duration `env:"CONSUMER_BACKOFF" envSeparator:"," envDefault:"1m,5m"`
	AckWait        time.Duration   `env:"CONSUMER_ACK_WAIT" envDefault:"30s"`
	// Batch bounds the events of one fetch and of one transaction of
	// the services that apply effects in batches (analytics, audit, security);
	// BatchBytes their bytes, BatchLinger how long a batch not full waits
	// for more once the fetched events are in (0: not at all).
	Batch       int           `env:"CONSUMER_BATCH" envDefault:"500"`
	BatchBytes  int           `env:"CONSUMER_BATCH_BYTES" envDefault:"1048576"`
	BatchLinger time.Duration `env:"CONSUMER_BATCH_LINGER" envDefault:"0s"`

	Retention         time.Duration `env:"CONSUMER_RETENTION" envDefault:"744h"`
	FailuresRetention time.Duration `env:"CONSUMER_FAILURES_RETENTION" envDefault:"168h"`
	SecurityRetention time.Duration `env:"SECURITY_RETENTION" envDefault:"192h"`
	PruneInterval     time.Duration `env:"CONSUMER_PRUNE_INTERVAL" envDefault:"10m"`
	PruneBatch        int           `env:"CONSUMER_PRUNE_BATCH" envDefault:"1000"`

	SMTPURL string `env:"SMTP_URL"`
	// SMTPConcurrency: mails the email service sends at once, each in an
	// SMTP session of its own (one mail per event still: a mail cannot
	// be rolled back, so it is not batched). 8: with a mail one round
	// trip, 4 left the machine's cores idle (docs/benchmarks.md).
	SMTPConcurrency int    `env:"SMTP_CONCURRENCY" envDefault:"8"`
	MailDir         string `env:"MAIL_DIR" envDefault:"./var/mail"`
	MailFrom        string `env:"MAIL_FROM" envDefault:"authevents <no-reply@authevents.local>"`
	// MailSealPrivateKeys opens the one-time links the API seals to the
	// email service (current key first, then any previous one still in
	// use); LinkBaseURL is where the links point.
	MailSealPrivateKeys []string `env:"MAIL_SEAL_PRIVATE_KEY" envSeparator:","`
	// MailSealPrivateKeyFile holds the current private key instead (the
	// key alone, or the file authctl mailkey writes).
	MailSealPrivateKeyFile string `env:"MAIL_SEAL_PRIVATE_KEY_FILE"`
	LinkBaseURL            string `env:"LINK_BASE_URL" envDefault:"http://localhost:8080"`

	// PersonalDataKey / PersonalDataKeyFile: the KEK of personal data,
	// as the API's (one key; or a file of keys, one a line, the current
	// first). With one, every service reads version 2 of the events and
	// skips the version 1 twins; without, it reads version 1 only.
	PersonalDataKey     string `env:"PERSONAL_DATA_KEY"`
	PersonalDataKeyFile string `env:"PERSONAL_DATA_KEY_FILE"`

	SecurityFailedLogins     int           `env:"SECURITY_FAILED_LOGINS" envDefault:"5"`
	SecurityStuffingAccounts int           `env:"SECURITY_STUFFING_ACCOUNTS" envDefault:"5"`
	SecurityWindow           time.Duration `env:"SECURITY_WINDOW" envDefault:"15m"`
	SecurityResetRequests    int           `env:"SECURITY_RESET_REQUESTS" envDefault:"5"`
	SecurityResetRequestsIP  int           `env:"SECURITY_RESET_REQUESTS_PER_IP" envDefault:"10"`
}
