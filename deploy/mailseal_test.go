package deploy_test

import (
	"slices"
	"testing"
)

// TestManifestsVerificationHasItsKeys: the api requires verified
// addresses (EMAIL_VERIFICATION, required by default) and so takes the
// public half of the mail seal key from a Secret that must exist (an api
// without it refuses to start: no verification link could be mailed,
// nobody could sign in), and the email consumer takes the private half of
// the same Secret, required too (without it every link is dead-lettered).
func TestManifestsVerificationHasItsKeys(t *testing.T) {
	for _, overlay := range overlays {
		w := workloads(t, overlay)
		api := obj(w["authevents-api"].list("spec", "template", "spec", "containers")[0].(map[string]any))
		if mode := envValue(api, "EMAIL_VERIFICATION"); mode != "required" {
			t.Errorf("%s api: EMAIL_VERIFICATION %q, want required stated", overlay, mode)
		}
		pub := secretRef(api, "MAIL_SEAL_PUBLIC_KEY")
		email := obj(w["authevents-consumer-email"].list("spec", "template", "spec", "containers")[0].(map[string]any))
		priv := secretRef(email, "MAIL_SEAL_PRIVATE_KEY")
		for who, ref := range map[string]obj{"api MAIL_SEAL_PUBLIC_KEY": pub, "email consumer MAIL_SEAL_PRIVATE_KEY": priv} {
			if ref == nil {
				t.Errorf("%s %s: not taken from a Secret", overlay, who)
				continue
			}
			if opt, _ := ref.get("optional").(bool); opt {
				t.Errorf("%s %s: the Secret is optional, and required verification needs it", overlay, who)
			}
		}
		if pub != nil && priv != nil && (pub.str("name") != priv.str("name") || pub.str("key") != "public" || priv.str("key") != "private") {
			t.Errorf("%s: the api's %s/%s and the email consumer's %s/%s are not the two halves of one Secret",
				overlay, pub.str("name"), pub.str("key"), priv.str("name"), priv.str("key"))
		}
	}
}

// secretRef is the secretKeyRef a container's variable is taken from.
func secretRef(c obj, name string) obj {
	for _, e := range c.list("env") {
		if e := obj(e.(map[string]any)); e.str("name") == name {
			if r, ok := e.get("valueFrom", "secretKeyRef").(map[string]any); ok {
				return obj(r)
			}
		}
	}
	return nil
}

// TestComposeVerificationHasItsKeys: in compose, the api (required
// verification) reads the public half of the key pair the mailkey job
// writes, and every email service reads the private half of that file.
func TestComposeVerificationHasItsKeys(t *testing.T) {
	for _, envFile := range []string{"", "compose-cluster.env"} {
		services := appServices(loadCompose(t, envFile))
		api := services["api"]
		if mode := env(api, "EMAIL_VERIFICATION"); mode != "required" {
			t.Errorf("%q api: EMAIL_VERIFICATION %q, want required stated", envFile, mode)
		}
		file := env(api, "MAIL_SEAL_PUBLIC_KEY_FILE")
		if file == "" {
			t.Fatalf("%q api: no MAIL_SEAL_PUBLIC_KEY_FILE", envFile)
		}
		emails := 0
		for name, s := range services {
			if s.Command[0] != "consumer" || !slices.Contains(s.Command, "email") && !slices.Contains(s.Command, "all") {
				continue
			}
			emails++
			if got := env(s, "MAIL_SEAL_PRIVATE_KEY_FILE"); got != file {
				t.Errorf("%q %s: MAIL_SEAL_PRIVATE_KEY_FILE %q, want the api's key file %q", envFile, name, got, file)
			}
		}
		if emails == 0 {
			t.Errorf("%q: no email service", envFile)
		}
	}
}
