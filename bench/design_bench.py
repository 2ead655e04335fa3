"""Design compiler benchmark: compile a 30-block design, then personalize it per recipient.

    python -m bench.design_bench [--runs 200] [--recipients 1000] [--json]

Compile = validate + MJML (mjml-python) + css-inline + text part, per call (median of
`--runs`). Personalization = CompiledMessage.render() of the compiled HTML and text, with
tracked links, for `--recipients` different subscriber contexts (median per recipient).
"""

import argparse
import json
import statistics
import time

from app.services.content.rendering import CompiledMessage, build_context, extract_links
from app.services.designs import compile_design


def design_30_blocks() -> dict:
    def b(i, type_, **props):
        return {"id": f"b{i}", "type": type_, "props": props}

    blocks = [
        b(
            1,
            "hero",
            title="Spring sale, {{ subscriber.attributes.first_name | default('friend') }}",
            subtitle="Up to 40% off everything in the shop",
            imageUrl="https://img.example/hero.png",
            buttonText="Shop now",
            buttonHref="https://shop.example/sale",
        ),
        b(2, "header", text="What's new", level=2),
        b(
            3,
            "text",
            text="<p>Hello <b>{{ subscriber.name }}</b>, here is <a href='https://shop.example/new'>what's new</a>"
            " this week. <span style='color:#c00'>Limited time!</span></p><ul><li>Free shipping</li><li>30-day returns</li></ul>",
        ),
        b(4, "divider"),
        {
            "id": "s1",
            "type": "section",
            "children": [
                {
                    "id": f"c{j}",
                    "type": "column",
                    "props": {"width": "33.33%"},
                    "children": [
                        b(
                            10 + j * 3,
                            "image",
                            src=f"https://img.example/p{j}.png",
                            alt=f"Product {j}",
                            href=f"https://shop.example/p{j}",
                        ),
                        b(11 + j * 3, "text", text=f"<b>Product {j}</b><br>Only €{j * 10 + 9}", align="center"),
                        b(12 + j * 3, "button", text="Buy", href=f"https://shop.example/p{j}/buy"),
                    ],
                }
                for j in range(3)
            ],
        },
        b(30, "spacer", height=20),
        {
            "id": "if1",
            "type": "conditional",
            "props": {"condition": "subscriber.attributes.plan == 'gold'"},
            "children": [b(31, "text", text="As a gold member you get an extra 10% with code GOLD10.")],
            "else": [b(32, "link", text="Become a gold member", href="https://shop.example/gold")],
        },
        {
            "id": "lp1",
            "type": "loop",
            "props": {"items": "cart.items", "as": "item"},
            "children": [b(33, "text", text="{{ item.name }}: {{ item.price }} €")],
        },
        b(34, "variable", name="subscriber.attributes.city", fallback="your city"),
        b(37, "divider", color="#cccccc"),
        b(38, "header", text="From the blog", level=3),
        b(
            39,
            "text",
            text="<p>Five ways to wear <i>spring colours</i> — <a href='https://blog.example/spring'>read the post</a>.</p>",
        ),
        b(40, "spacer", height=10),
        b(
            35,
            "social",
            links=[
                {"network": "instagram", "href": "https://instagram.example/shop"},
                {"network": "facebook", "href": "https://facebook.example/shop"},
            ],
        ),
        b(
            36,
            "footer",
            text="You receive this because you joined our list.",
            address="1 Main Street, Lisbon",
            showPreferences=True,
        ),
    ]
    return {"version": 1, "settings": {"backgroundColor": "#f4f4f4", "width": 600}, "blocks": blocks}


def count_blocks(blocks) -> int:
    return sum(1 + count_blocks(b.get("children", [])) + count_blocks(b.get("else", [])) for b in blocks)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--recipients", type=int, default=1000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    design = design_30_blocks()
    compiled = compile_design(design)  # warm up
    compile_times = []
    for _ in range(args.runs):
        t0 = time.perf_counter()
        compiled = compile_design(design)
        compile_times.append(time.perf_counter() - t0)

    links = {url: i + 1 for i, url in enumerate(extract_links(compiled.html))}
    t0 = time.perf_counter()
    message = CompiledMessage(
        "Spring sale", compiled.html, compiled.text, "Up to 40% off", link_ids=links, track_opens=True
    )
    prepare = time.perf_counter() - t0
    render_times = []
    for i in range(args.recipients):
        subscriber = {
            "id": i,
            "email": f"r{i}@example.com",
            "name": f"Reader {i}",
            "attributes": {"first_name": f"R{i}", "plan": "gold" if i % 3 == 0 else "free", "city": "Lisbon"},
        }
        ctx = build_context(
            subscriber,
            "Spring",
            f"https://h.example/u/{i}",
            f"https://h.example/p/{i}",
            "",
            extra={"cart": {"items": [{"name": f"Item {k}", "price": k * 3} for k in range(i % 4)]}},
        )
        t0 = time.perf_counter()
        message.render(
            ctx, link_url=lambda lid, i=i: f"https://h.example/t/c/{i}.{lid}", pixel_url="https://h.example/o.gif"
        )
        render_times.append(time.perf_counter() - t0)

    figures = {
        "blocks": count_blocks(design["blocks"]),
        "html_bytes": compiled.size_bytes,
        "tracked_links": len(links),
        "compile_median_ms": statistics.median(compile_times) * 1000,
        "compile_p95_ms": sorted(compile_times)[int(len(compile_times) * 0.95) - 1] * 1000,
        "compiled_message_ms": prepare * 1000,
        "render_median_ms": statistics.median(render_times) * 1000,
        "render_p95_ms": sorted(render_times)[int(len(render_times) * 0.95) - 1] * 1000,
    }
    if args.json:
        print(json.dumps(figures))
        return
    print(f"design: {figures['blocks']} blocks, {figures['html_bytes']:,} bytes of HTML, {len(links)} tracked links")
    print(f"{'step':<48}{'median':>10}{'p95':>10}")
    print(
        f"{'compile (validate + MJML + inline + text), ' + str(args.runs) + ' runs':<48}"
        f"{figures['compile_median_ms']:>8.2f}ms{figures['compile_p95_ms']:>8.2f}ms"
    )
    print(f"{'CompiledMessage (once per campaign)':<48}{figures['compiled_message_ms']:>8.2f}ms{'':>10}")
    print(
        f"{'personalize per recipient, ' + str(args.recipients) + ' recipients':<48}"
        f"{figures['render_median_ms']:>8.3f}ms{figures['render_p95_ms']:>8.3f}ms"
    )


if __name__ == "__main__":
    main()
