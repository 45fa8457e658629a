package notify

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// Provider types.
const (
	TypeSlack   = "slack"
	TypeMSTeams = "msteams"
	TypeDiscord = "discord"
	TypeRocket  = "rocket"
	TypeGChat   = "gchat"
	TypeGeneric = "generic"
)

// Keys of an AlertProvider's Secret.
const (
	SecretKeyAddress = "address"
	SecretKeyToken   = "token"
)

// Keys of the controller-wide senders in Health. Their namespace is empty: no AlertProvider
// object stands behind them, so Failing leaves them out.
var (
	GlobalSlack   = types.NamespacedName{Name: "global-slack"}
	GlobalMSTeams = types.NamespacedName{Name: "global-msteams"}
)

// unknownType labels failures of a provider that could not be read.
const unknownType = "unknown"

// destination is a resolved provider: where and how to send. Address, Token and Proxy are
// secrets; String hides them, so a destination can never be logged by accident.
type destination struct {
	Type     string
	Address  string
	Token    string
	Channel  string
	Username string
	Proxy    string
}

// String names the destination without its secrets.
func (d destination) String() string {
	if d.Address == "" {
		return d.Type
	}
	return d.Type + " " + redactURL(d.Address)
}

// where names the destination in error messages.
func (d destination) where() string {
	if d.Address == "" {
		return d.Type
	}
	return redactURL(d.Address)
}

// errInvalid marks a provider that no retry can fix.
var errInvalid = errors.New("invalid alert provider")

// ErrCrossNamespaceRef is the refusal of an alert whose providerRef names an AlertProvider
// outside the Canary's namespace, while Options.AllowCrossNamespaceRefs is off.
var ErrCrossNamespaceRef = errors.New("cross-namespace references are refused (--allow-cross-namespace-refs)")

// ReasonCrossNamespaceRefRefused is the reason of the Warning event recorded on a Canary whose
// alert is refused for naming an AlertProvider in another namespace.
const ReasonCrossNamespaceRefRefused = "CrossNamespaceRefRefused"

// providerKey is the AlertProvider an alert of a Canary in namespace names: its providerRef,
// in the Canary's namespace unless the ref gives one.
func providerKey(namespace string, a siskinv1.CanaryAlert) types.NamespacedName {
	key := types.NamespacedName{Namespace: a.ProviderRef.Namespace, Name: a.ProviderRef.Name}
	if key.Namespace == "" {
		key.Namespace = namespace
	}
	return key
}

// checkRef refuses a provider outside the Canary's namespace unless allowed. It decides on
// names alone, before anything is read, so a refused ref never reaches the other namespace's
// Secret.
func checkRef(namespace string, key types.NamespacedName, allowCrossNamespace bool) error {
	if key.Namespace == namespace || allowCrossNamespace {
		return nil
	}
	return fmt.Errorf("alert provider %s is in another namespace; %w", key, ErrCrossNamespaceRef)
}

// resolve reads the AlertProvider key and its Secret.
func resolve(ctx context.Context, r client.Reader, key types.NamespacedName) (destination, error) {
	p := &siskinv1.AlertProvider{}
	if err := r.Get(ctx, key, p); err != nil {
		if apierrors.IsNotFound(err) {
			return destination{}, fmt.Errorf("no AlertProvider %s", key)
		}
		return destination{}, fmt.Errorf("get AlertProvider %s: %w", key, err)
	}
	d := destination{
		Type:     p.Spec.Type,
		Address:  strings.TrimSpace(p.Spec.Address),
		Channel:  p.Spec.Channel,
		Username: p.Spec.Username,
		Proxy:    strings.TrimSpace(p.Spec.Proxy),
	}
	if ref := p.Spec.SecretRef; ref != nil {
		s := &corev1.Secret{}
		sk := types.NamespacedName{Namespace: key.Namespace, Name: ref.Name}
		if err := r.Get(ctx, sk, s); err != nil {
			if apierrors.IsNotFound(err) {
				return d, fmt.Errorf("no Secret %s for AlertProvider %s", sk, key)
			}
			return d, fmt.Errorf("get Secret %s of AlertProvider %s: %w", sk, key, err)
		}
		if v := strings.TrimSpace(string(s.Data[SecretKeyAddress])); v != "" {
			d.Address = v
		}
		d.Token = strings.TrimSpace(string(s.Data[SecretKeyToken]))
	}
	if err := d.validate(); err != nil {
		return d, fmt.Errorf("alert provider %s: %w", key, err)
	}
	return d, nil
}

// validate checks what the CRD cannot see: the Secret's values. Messages name the field, never
// its value.
func (d destination) validate() error {
	switch d.Type {
	case TypeSlack, TypeMSTeams, TypeDiscord, TypeRocket, TypeGChat, TypeGeneric:
	default:
		return fmt.Errorf("%w: type %q is not slack, msteams, discord, rocket, gchat or generic", errInvalid, d.Type)
	}
	slackBot := d.Type == TypeSlack && d.Token != ""
	if d.Address == "" && !slackBot {
		return fmt.Errorf("%w: no address (spec.address or the Secret key %s)", errInvalid, SecretKeyAddress)
	}
	if d.Address != "" && !isHTTPURL(d.Address) {
		return fmt.Errorf("%w: the address is not an http(s) URL", errInvalid)
	}
	if d.Proxy != "" && !isHTTPURL(d.Proxy) {
		return fmt.Errorf("%w: the proxy is not an http(s) URL", errInvalid)
	}
	if slackBot && d.Channel == "" {
		return fmt.Errorf("%w: a Slack bot token needs a channel", errInvalid)
	}
	return nil
}

func isHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// globalDestinations returns the controller-wide senders that the options turn on.
func globalDestinations(g GlobalOptions) (map[types.NamespacedName]destination, error) {
	out := map[types.NamespacedName]destination{}
	if g.SlackURL != "" || g.SlackToken != "" {
		d := destination{
			Type: TypeSlack, Address: strings.TrimSpace(g.SlackURL), Token: strings.TrimSpace(g.SlackToken),
			Channel: g.SlackChannel, Username: g.SlackUser, Proxy: strings.TrimSpace(g.SlackProxyURL),
		}
		if err := d.validate(); err != nil {
			return nil, fmt.Errorf("--slack-url, --slack-token, --slack-channel, --slack-proxy-url: %w", err)
		}
		out[GlobalSlack] = d
	}
	if g.MSTeamsURL != "" {
		d := destination{Type: TypeMSTeams, Address: strings.TrimSpace(g.MSTeamsURL)}
		if err := d.validate(); err != nil {
			return nil, fmt.Errorf("--msteams-url: %w", err)
		}
		out[GlobalMSTeams] = d
	}
	return out, nil
}
