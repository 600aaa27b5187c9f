-- +goose Up
-- Analytics: events per type and hour; distinct active users per day.
CREATE TABLE analytics_event_counts (
    hour  timestamptz NOT NULL,
    type  text        NOT NULL,
    count bigint      NOT NULL,
    PRIMARY KEY (hour, type)
);
CREATE TABLE analytics_active_users (
    day     date NOT NULL,
    user_id uuid NOT NULL,
    PRIMARY KEY (day, user_id)
);

-- Security: what each user was seen with, recent failed logins, alerts.
CREATE TABLE security_seen (
    user_id    uuid        NOT NULL,
    kind       text        NOT NULL CHECK (kind IN ('ip', 'user_agent')),
    value      text        NOT NULL,
    first_seen timestamptz NOT NULL,
    PRIMARY KEY (user_id, kind, value)
);
CREATE TABLE security_failed_logins (
    event_id uuid PRIMARY KEY,
    email    text        NOT NULL,
    ip       text        NOT NULL,
    at       timestamptz NOT NULL
);
CREATE INDEX security_failed_logins_email_idx ON security_failed_logins (email, at);
CREATE INDEX security_failed_logins_ip_idx ON security_failed_logins (ip, at);
CREATE TABLE security_alerts (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id   uuid        NOT NULL,
    rule       text        NOT NULL,
    severity   text        NOT NULL,
    user_id    uuid,
    email      text        NOT NULL DEFAULT '',
    ip         text        NOT NULL DEFAULT '',
    details    jsonb       NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (event_id, rule)
);

-- +goose Down
DROP TABLE security_alerts;
DROP TABLE security_failed_logins;
DROP TABLE security_seen;
DROP TABLE analytics_active_users;
DROP TABLE analytics_event_counts;
