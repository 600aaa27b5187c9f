package authevents

// Event types of the account lifecycle: verified addresses, password
// reset and change, email change.
const (
	// EventEmailVerificationRequested: a verification link for the
	// user's address was issued (at registration, or on a resend).
	EventEmailVerificationRequested = "user.email_verification_requested"
	EventEmailVerified              = "user.email_verified"
	// EventRegistrationAttempted: someone tried to register an address
	// that already has an account (EMAIL_VERIFICATION=required answers as
	// for a new address); its owner is told by mail.
	EventRegistrationAttempted  = "user.registration_attempted"
	EventPasswordResetRequested = "user.password_reset_requested"
	EventPasswordChanged        = "user.password_changed"
	// EventEmailChangeRequested: a signed-in user asked to move to a new
	// address; the link goes to the new address, a notice to the old one.
	EventEmailChangeRequested = "user.email_change_requested"
	EventEmailChanged         = "user.email_changed"
)

// Reasons carried in UserPasswordChanged.Reason.
const (
	PasswordChangedByReset  = "reset"
	PasswordChangedByChange = "change"
)

// Link is a one-time link's token, sealed to the email service's key
// (token.Sealer): only the email service can open it, so the token is in
// clear nowhere but the mail. ExpiresAt is when the link stops working.
type Link struct {
	SealedToken string    `json:"sealedToken"`
	ExpiresAt   Timestamp `json:"expiresAt"`
}

// UserEmailVerificationRequested is the data of
// user.email_verification_requested.
type UserEmailVerificationRequested struct {
	UserID    string    `json:"userId"`
	Email     string    `json:"email"`
	Name      string    `json:"name"`
	Link      Link      `json:"link"`
	Timestamp Timestamp `json:"timestamp"`
}

// UserEmailVerified is the data of user.email_verified.
type UserEmailVerified struct {
	UserID    string    `json:"userId"`
	Email     string    `json:"email"`
	Timestamp Timestamp `json:"timestamp"`
}

// UserRegistrationAttempted is the data of user.registration_attempted:
// the account of UserID owns Email, which someone tried to register.
type UserRegistrationAttempted struct {
	UserID    string    `json:"userId"`
	Email     string    `json:"email"`
	IP        string    `json:"ip"`
	UserAgent string    `json:"userAgent"`
	Timestamp Timestamp `json:"timestamp"`
}

// UserPasswordResetRequested is the data of user.password_reset_requested.
type UserPasswordResetRequested struct {
	UserID    string    `json:"userId"`
	Email     string    `json:"email"`
	Link      Link      `json:"link"`
	IP        string    `json:"ip"`
	UserAgent string    `json:"userAgent"`
	Timestamp Timestamp `json:"timestamp"`
}

// UserPasswordChanged is the data of user.password_changed. Reason is
// PasswordChangedByReset or PasswordChangedByChange; SessionsEnded counts
// the sessions the change ended.
type UserPasswordChanged struct {
	UserID        string    `json:"userId"`
	Email         string    `json:"email"`
	Reason        string    `json:"reason"`
	SessionsEnded int       `json:"sessionsEnded"`
	IP            string    `json:"ip"`
	UserAgent     string    `json:"userAgent"`
	Timestamp     Timestamp `json:"timestamp"`
}

// UserEmailChangeRequested is the data of user.email_change_requested.
// When NewEmailTaken is true the new address belongs to another account:
// no link is issued (Link is absent), nothing will change, and that
// account's owner gets a notice.
type UserEmailChangeRequested struct {
	UserID        string    `json:"userId"`
	Email         string    `json:"email"`
	NewEmail      string    `json:"newEmail"`
	NewEmailTaken bool      `json:"newEmailTaken"`
	Link          *Link     `json:"link,omitempty"`
	IP            string    `json:"ip"`
	UserAgent     string    `json:"userAgent"`
	Timestamp     Timestamp `json:"timestamp"`
}

// UserEmailChanged is the data of user.email_changed.
type UserEmailChanged struct {
	UserID    string    `json:"userId"`
	OldEmail  string    `json:"oldEmail"`
	Email     string    `json:"email"`
	Timestamp Timestamp `json:"timestamp"`
}

// Paths of the one-time links, relative to LINK_BASE_URL: the email
// service builds links with them, and the API serves its default pages
// there. A client app named by LINK_BASE_URL serves them instead, reads
// the token query parameter and calls the API.
const (
	LinkVerifyEmail   = "/verify-email"
	LinkResetPassword = "/reset-password"
)
