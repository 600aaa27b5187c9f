package authevents

// Event types of leaving: an operator disables or enables an account, and
// an account is deleted by its user or by an operator.
const (
	EventUserDisabled = "user.disabled"
	EventUserEnabled  = "user.enabled"
	EventUserDeleted  = "user.deleted"
)

// Who made a change, in the By field of the events of leaving.
const (
	ByUser     = "user"
	ByOperator = "operator"
)

// UserDisabled is the data of user.disabled. SessionsEnded counts the
// sessions the change ended (each also has its user.logged_out).
type UserDisabled struct {
	UserID        string    `json:"userId"`
	By            string    `json:"by"`
	SessionsEnded int       `json:"sessionsEnded"`
	Timestamp     Timestamp `json:"timestamp"`
}

// UserEnabled is the data of user.enabled.
type UserEnabled struct {
	UserID    string    `json:"userId"`
	By        string    `json:"by"`
	Timestamp Timestamp `json:"timestamp"`
}

// UserDeleted is the data of user.deleted: the account and its sessions
// and links are gone. Email is the address it had, for the one
// confirmation mail; each consumer erases what it holds of the user.
type UserDeleted struct {
	UserID        string    `json:"userId"`
	Email         string    `json:"email"`
	By            string    `json:"by"`
	SessionsEnded int       `json:"sessionsEnded"`
	Timestamp     Timestamp `json:"timestamp"`
}
