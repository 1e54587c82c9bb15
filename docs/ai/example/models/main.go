// Command models lists the models a pixiu gateway serves on one base URL and sends a chat
// completion to each of them with the official openai-go client.
package main

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/openai/openai-go"
	"github.com/openai/openai-go/option"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// One base URL for every model; the gateway sets each provider's own key upstream.
	client := openai.NewClient(
		option.WithBaseURL("http://127.0.0.1:8888/v1/"),
		option.WithAPIKey("the-gateway-sets-provider-keys"),
	)

	page, err := client.Models.List(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for _, m := range page.Data {
		reply, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
			Model:    m.ID,
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Who are you?")},
		})
		if err != nil {
			log.Fatalf("%s: %v", m.ID, err)
		}
		fmt.Printf("%-20s (cluster %s): %s\n", m.ID, m.OwnedBy, reply.Choices[0].Message.Content)
	}
}
