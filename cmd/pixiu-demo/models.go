package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/openai/openai-go"
)

// Every provider registers the demo's shared model and one of its own (see registerArgs), and
// the /v1 route of configs/demo.yaml routes by model: "demo-model" goes to every provider,
// "<name>-model" only to that provider.
const sharedModel = "demo-model"

func ownModel(provider string) string { return provider + "-model" }

// modelsOf is the --models value a provider registers with.
func modelsOf(p *provider) string { return sharedModel + "," + ownModel(p.name) }

// modelCatalog shows models.list() answered by the gateway, following the providers that left
// and joined, and chats to two models on the one base URL landing on their providers.
func (d *demo) modelCatalog(ctx context.Context) error {
	d.out.title("One base URL for every model: the gateway's model catalog and routing by model")
	client := d.client()
	page, err := client.Models.List(ctx)
	if err != nil {
		return errorf(err, "models.list()")
	}
	var ids []string
	for _, m := range page.Data {
		ids = append(ids, m.ID)
		d.out.info("models.list() -> %-12s owned_by %s", m.ID, m.OwnedBy)
	}
	want := []string{ownModel("beta"), sharedModel, ownModel("gamma")}
	if !slices.Equal(ids, want) {
		return fmt.Errorf("models.list() = %v, want %v (alpha left, gamma joined)", ids, want)
	}
	d.out.info("answered by the gateway from what is registered now: alpha's model left with alpha, gamma's came with gamma")

	for _, name := range []string{"beta", "gamma"} {
		reply, who, err := d.chatModel(ctx, ownModel(name))
		if err != nil {
			return errorf(err, "chat to %s", ownModel(name))
		}
		d.out.info("model %-12s -> answered by %-5s %q", ownModel(name), who, reply)
		if who != name {
			return fmt.Errorf("model %s: want %s to answer, got %q", ownModel(name), name, who)
		}
	}

	_, _, err = d.chatModel(ctx, ownModel("alpha"))
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusNotFound || apiErr.Code != "model_not_found" {
		return fmt.Errorf("model %s after alpha left: want 404 model_not_found, got %v", ownModel("alpha"), err)
	}
	d.out.info("model %-12s -> %d %s, no provider asked (alpha deregistered)", ownModel("alpha"), apiErr.StatusCode, apiErr.Code)
	return nil
}

// chatModel sends one chat completion for model, counted in the summary.
func (d *demo) chatModel(ctx context.Context, model string) (reply, who string, err error) {
	params := chatParams("Who are you?")
	params.Model = model
	if reply, who, err = d.complete(ctx, params); err == nil {
		d.counted(who)
	}
	return reply, who, err
}
