#!/usr/bin/env python3
"""Writes messages.tsv: the labelled buyer–seller message corpus for palisade_trust::messages (issue #20 item 5).

Every template below was written by hand by the team (Singapore English, Singlish, some Malay, Chinese and Tamil);
this script only fills the slots (numbers, names, links, evasion spellings) with a fixed seed, so the corpus is
reproducible: `python3 gen_messages.py > messages.tsv`.

Split: templates alternate between the dev half and the held-out half (whole templates, so no sibling of a held-out
message is in the dev half), and each slot's spelling list has a tail used only in the held-out half, so the
held-out half also tests evasions the detector's author never looked at.
Labels: `flag` (the buyer should be warned or the message blocked) or `ok`. Columns: label, category, text.
"""
import random

R = random.Random(20261206)

# ---- slot fillers: (dev spellings, extra spellings only in held-out) -------------------------------------------
NAMES = (["Kelvin", "Mei Ling", "Ahmad", "Priya", "Jason Tan", "Siti", "Wei Jie", "Rachel"],
         ["Muthu", "Xiu Ying", "Farhan", "Bryan Lim"])
HANDLES = (["deals_sg88", "kelvintan_shop", "sgphones", "cheapbuy_sg", "mei_preloved", "gadgetz4u"],
           ["ah_boy_trading", "luxe_bagssg", "tix_resale_sg"])
MRT = (["Tampines", "Jurong East", "Bishan", "Woodlands", "Serangoon", "Bugis", "Tiong Bahru", "Pasir Ris"],
       ["Punggol", "Yew Tee", "Kembangan", "Buona Vista"])
ITEMS = (["iPhone 15", "PS5", "Dyson V12", "Nike Dunk", "Taylor Swift tickets", "Coach bag", "AirPods Pro"],
         ["Switch OLED", "Rolex", "Labubu", "Genting bus tickets"])
WA = (["whatsapp", "WhatsApp", "whats app", "WA", "Whatsapp", "watsapp", "what's app"],
      ["wh@tsapp", "w/a", "wasap", "WhatsApp\u200b", "whatsa\u200bpp"])
TG = (["telegram", "Telegram", "tele", "TG"], ["telegr@m", "tel3gram", "teleg\u200bram"])
PAYNOW = (["PayNow", "paynow", "Paynow", "pay now", "PAYNOW"], ["pay-now", "p4ynow", "payn\u200bow", "pаynow"])
BANKS = (["DBS", "POSB", "OCBC", "UOB"], ["Maybank", "Standard Chartered", "HSBC"])
LOOKALIKE = (["palisade-sg.com", "pallsade.sg", "palisade.sg-payment.com", "secure-palisade.net", "paIisade.sg"],
             ["раlisade.sg", "p4lisade.sg", "palisade-support.help", "palisadesg.co", "palisade.sg.verify-id.top"])
EXT = (["bit.ly/3xYz9Qa", "tinyurl.com/sgpay-release", "https://sg-lalamove-pay.com/r/8812",
        "https://payment-release.site/claim", "https://forms.gle/Ab12Cd34"],
       ["cutt.ly/rel3ase", "https://ninjavan-sg.delivery-fee.xyz/p", "https://s.id/sgclaim", "rb.gy/x7k2"])
QR = (["https://qr-paynow.sg/a81", "sgqr-pay.com/scan/441", "https://paynow-qr.site/u/77"],
      ["https://qrpay-sg.link/9", "qr.paynow-sg.app/c/12"])


def pick(slot, held):
    dev, extra = slot
    return R.choice(dev + extra if held else dev)


def digits(n, first=None):
    s = "".join(R.choice("0123456789") for _ in range(n))
    return (first + s[1:]) if first else s


FULL = str.maketrans("0123456789", "０１２３４５６７８９")


def phone(held):
    d = digits(8, R.choice("89"))
    forms = [d, d[:4] + " " + d[4:], d[:4] + "-" + d[4:], "+65 " + d[:4] + " " + d[4:], "+65" + d,
             " ".join(d), d.translate(FULL)]
    extra = ["65-" + d[:4] + "-" + d[4:], "\u200b".join(d), d[:2] + " " + d[2:5] + " " + d[5:], "(+65) " + d,
             d[:4] + "." + d[4:]]
    return R.choice(forms + extra if held else forms)


def bank(held):
    forms = [digits(3) + "-" + digits(6) + "-" + digits(1), digits(3) + "-" + digits(5) + "-" + digits(1),
             digits(3) + "-" + digits(6) + "-" + digits(3), digits(10)]
    extra = [digits(3) + " " + digits(3) + " " + digits(4), digits(12), digits(10).translate(FULL)]
    return R.choice(forms + extra if held else forms)


def fill(t, held):
    d8 = digits(8, R.choice("89"))
    vals = {
        "phone": phone(held), "wa_digits": "65" + d8, "name": pick(NAMES, held), "handle": pick(HANDLES, held),
        "mrt": pick(MRT, held), "item": pick(ITEMS, held), "wa": pick(WA, held), "tg": pick(TG, held),
        "paynow": pick(PAYNOW, held), "bankname": pick(BANKS, held), "bank": bank(held),
        "lookalike": pick(LOOKALIKE, held), "ext": pick(EXT, held), "qr": pick(QR, held),
        "uen": R.choice([digits(9, "2") + R.choice("KMNWZ"), digits(8, "5") + R.choice("CDEJX")]),
        "price": str(R.choice([12, 25, 45, 80, 120, 250, 380, 650, 1200, 1899])),
        "cents": R.choice(["45.90", "12.50", "199.00", "1,299", "89", "7.80"]),
        "order": str(R.randint(1000, 99999)), "postal": R.choice(["52", "46", "73", "31", "15", "68", "82"]) + digits(4),
        "blk": str(R.randint(1, 999)) + R.choice(["", "A", "B"]), "unit": "%02d-%02d" % (R.randint(2, 25), R.randint(1, 150)),
        "n": str(R.randint(2, 6)), "n2": str(R.randint(1, 3)), "size": R.choice(["S", "M", "L", "XL", "38", "42", "UK 8"]),
        "time": R.choice(["7pm", "7.30pm", "10am", "12.15", "8:45pm", "6pm"]),
        "date": R.choice(["12 Dec", "3/1", "25/12", "Friday", "next Monday", "CNY"]),
        "tracking": R.choice(["SPXSG0", "NVSGPAL", "JT66", "RR"]) + digits(9) + R.choice(["", "SG"]),
        "model": R.choice(["RTX 4070", "SM-S928B", "A2890", "XR-75X90L", "MQ2Y3ZP/A"]),
        "sku": digits(8, R.choice("89")), "code": "".join(R.choice("abcdefghjkmnpqrstuvwxyz23456789") for _ in range(6)),
        "wallet": "T" + "".join(R.choice("ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz123456789") for _ in range(33)),
    }
    return t.format(**vals)


# ---- flagged templates (category, text) ---------------------------------------------------------------------
FLAG = [
    ("paynow", "can {paynow} me first? {phone}"),
    ("paynow", "Pls {paynow} to {phone} then I send out today"),
    ("paynow", "{paynow} to my number {phone} ok? faster than the app"),
    ("paynow", "{paynow} {phone} (name {name}) thanks"),
    ("paynow", "Just {paynow} ${price} to {phone}, no need go through checkout"),
    ("paynow", "u can {paynow} direct to my UEN {uen}, cheaper no platform fee"),
    ("paynow", "I give u discount if u {paynow} me directly instead of checkout"),
    ("paynow", "Pay outside the app can? {paynow} {phone}"),
    ("paynow", "paylah me {phone} can already"),
    ("paynow", "PayLah or {paynow} to {phone}, after receive I post"),
    ("paynow", "checkout got problem today, just {paynow} to my hp lah"),
    ("paynow", "{paynow} 给我 {phone} 就可以了"),
    ("paynow", "boleh {paynow} terus ke {phone}? tak payah guna app"),
    ("paynow", "Send the deposit of ${price} via {paynow} to {phone} to reserve the {item}"),
    ("paynow", "bro {paynow} me {price} first, then i pass u the {item} at {mrt}"),
    ("paynow", "cancel the order on app, {paynow} me instead save the fees"),
    ("bank_transfer", "Can do bank transfer? {bankname} {bank}"),
    ("bank_transfer", "{bankname} savings {bank} name {name}, transfer then screenshot me"),
    ("bank_transfer", "pay by transfer pls, {bankname} acc no {bank}"),
    ("bank_transfer", "ibanking to {bankname} {bank} can?"),
    ("bank_transfer", "Transfer to my account {bank} ({bankname}) and I'll ship tmr"),
    ("bank_transfer", "i prefer fund transfer, avoid the platform fees. acct: {bank}"),
    ("bank_transfer", "FAST transfer to {bank} ok? {bankname}"),
    ("bank_transfer", "you bank in to my {bankname} acc {bank} first"),
    ("bank_transfer", "转账到我的银行户口 {bank} {bankname}"),
    ("bank_transfer", "can transfer money to my account directly? cheaper for both of us"),
    ("bank_transfer", "pay me directly through bank transfer and I waive delivery"),
    ("bank_transfer", "sila transfer ke akaun {bankname} saya {bank}"),
    ("phone", "call me at {phone}"),
    ("phone", "text me {phone} easier to discuss"),
    ("phone", "my hp {phone}, sms me"),
    ("phone", "contact me {phone} for faster reply"),
    ("phone", "msg me at {phone} can nego"),
    ("phone", "hp: {phone}"),
    ("phone", "drop me your phone number, I {wa} you the details"),
    ("phone", "Give me ur number, I call you to explain"),
    ("phone", "any issue just call {phone} ok"),
    ("phone", "{name} here, my number is {phone}"),
    ("phone", "better talk over phone, {phone}"),
    ("phone", "SMS {phone} for the real price"),
    ("whatsapp", "{wa} me {phone}"),
    ("whatsapp", "{wa} me at {phone}"),
    ("whatsapp", "pls {wa} {phone} for more pics"),
    ("whatsapp", "add me on {wa}, {phone}"),
    ("whatsapp", "https://wa.me/{wa_digits}"),
    ("whatsapp", "wa.me/{wa_digits} chat there faster"),
    ("whatsapp", "chat on {wa} pls, this app slow: wa.me/{wa_digits}"),
    ("whatsapp", "Join our group for deals chat.whatsapp.com/{code}"),
    ("whatsapp", "{wa} saya {phone}"),
    ("whatsapp", "My {wa}: {phone}"),
    ("whatsapp", "continue on {wa}? this app keep logging me out"),
    ("whatsapp", "Let's move to {wa}, I send you the video of the {item}"),
    ("whatsapp", "api.whatsapp.com/send?phone={wa_digits}"),
    ("whatsapp", "{wa} 我 {phone}"),
    ("telegram", "{tg} me @{handle}"),
    ("telegram", "pm me on {tg} @{handle}"),
    ("telegram", "t.me/{handle}"),
    ("telegram", "https://t.me/{handle} got more stock there"),
    ("telegram", "join my {tg} channel t.me/{handle} for cheaper price"),
    ("telegram", "{tg}: @{handle}"),
    ("telegram", "add my {tg} {handle} ya"),
    ("telegram", "I reply faster on {tg}, username {handle}"),
    ("telegram", "telegram.me/{handle} for the tickets"),
    ("other_app", "add my wechat {handle}"),
    ("other_app", "加我微信 {handle}"),
    ("other_app", "line id: {handle}"),
    ("other_app", "signal me {phone}"),
    ("other_app", "IG dm me @{handle} cheaper there"),
    ("other_app", "FB messenger me, search {name} {handle}"),
    ("other_app", "wechat me for the price, id {handle}"),
    ("qr_payment", "scan this QR to pay: {qr}"),
    ("qr_payment", "I send you the {paynow} QR, scan and pay"),
    ("qr_payment", "payment QR here {qr}"),
    ("qr_payment", "sgqr code attached, scan and transfer ${price}"),
    ("qr_payment", "pls scan QR code in my profile pic to pay"),
    ("qr_payment", "scan to pay {qr} then send me screenshot"),
    ("lookalike_domain", "Please confirm your order at {lookalike}/confirm"),
    ("lookalike_domain", "Your payment is on hold, verify at https://{lookalike}/verify"),
    ("lookalike_domain", "I've paid via Palisade escrow, claim your funds at {lookalike}"),
    ("lookalike_domain", "Log in here to receive payment: {lookalike}/seller"),
    ("lookalike_domain", "Palisade support: your account will be suspended, go to {lookalike}"),
    ("lookalike_domain", "buyer protection form {lookalike}/protect pls fill up"),
    ("lookalike_domain", "https://{lookalike}/order/{order} click to accept"),
    ("fake_payment_link", "I paid already, click {ext} to receive money"),
    ("fake_payment_link", "Delivery via lalamove, fill in your card at {ext} to get the payment"),
    ("fake_payment_link", "Courier needs you to pay $2 insurance at {ext}"),
    ("fake_payment_link", "shipping fee pay here {ext}"),
    ("fake_payment_link", "payment sent! release it here {ext}"),
    ("fake_payment_link", "{ext} <- key in bank login to receive the ${price}"),
    ("external_link", "Check out my other listings cheaper at {ext}"),
    ("external_link", "more photos here {ext}"),
    ("external_link", "order from my own website {ext}, 20% cheaper"),
    ("external_link", "see reviews at {ext}"),
    ("otp", "pls send me the 6 digit OTP you received"),
    ("otp", "i sent a verification code to your phone, tell me the code so I can release payment"),
    ("otp", "what's the OTP? need it to confirm delivery"),
    ("otp", "read me the SMS code pls"),
    ("otp", "send me your singpass 2FA code"),
    ("otp", "give me the OTP from {bankname} to verify you are real buyer"),
    ("otp", "you will receive a code, just forward to me"),
    ("card_details", "give me your card number and CVV I charge you directly"),
    ("card_details", "send me card number, expiry and cvv to pay"),
    ("card_details", "key in your card details here {ext} to receive payment"),
    ("card_details", "pls send photo of front and back of your card"),
    ("crypto_giftcard", "can pay in USDT? wallet {wallet}"),
    ("crypto_giftcard", "pay with google play gift card"),
    ("crypto_giftcard", "buy steam card and send me the code"),
    ("crypto_giftcard", "BTC ok? address {wallet}"),
    ("crypto_giftcard", "I only accept apple gift card, send me the codes"),
    ("urgency", "many ppl asking, pay within 10 min or I sell to others"),
    ("urgency", "last chance!! deposit now or lose it"),
    ("urgency", "Pay fast fast, other buyer waiting with cash"),
    ("urgency", "hurry, reserve with $50 deposit, offer ends in 5 mins"),
    ("urgency", "if you don't transfer now I cancel, got 3 other buyers"),
    ("urgency", "promo only today, pay quick before price goes up"),
    ("urgency", "Urgent!! your order will be cancelled unless you pay the fee in 30 minutes"),
    ("urgency", "faster decide, pay deposit now or I let go to next person"),
    ("deposit", "need deposit first before I reserve, transfer $50"),
    ("deposit", "pay 50% upfront to me then balance on delivery"),
    ("deposit", "deposit ${price} to hold the {item}, non refundable"),
    ("deposit", "put down deposit by bank transfer, then I keep for you"),
]

# ---- legitimate templates (category, text) ------------------------------------------------------------------
OK = [
    ("size", "Hi, is this available in size {size}?"),
    ("size", "does it run small? I usually wear M"),
    ("size", "What's the length of the dress? I'm 160cm"),
    ("size", "Got size EU 42 for the sneakers?"),
    ("size", "Is the ring adjustable? My finger size is 7"),
    ("size", "size chart got or not ah?"),
    ("size", "UK 8 fit me or not har, normally wear S"),
    ("size", "pants waist 30 or 32 better? I'm 70kg"),
    ("delivery", "How long does delivery take to Tampines?"),
    ("delivery", "Can deliver to Jurong West {postal}?"),
    ("delivery", "When will my order #{order} be shipped?"),
    ("delivery", "Tracking number {tracking} shows no update since Monday"),
    ("delivery", "can deliver before 25 Dec? need it for christmas"),
    ("delivery", "Delivery to Blk {blk} #{unit} ok? lift landing"),
    ("delivery", "Is shipping free above ${price}?"),
    ("delivery", "Ninja Van or J&T?"),
    ("delivery", "My order {order} still haven't reach leh"),
    ("delivery", "courier came at {time} but nobody home, can redeliver?"),
    ("delivery", "can leave at the door if I'm not in? Blk {blk}"),
    ("delivery", "parcel says delivered but I never receive, order #{order}"),
    ("meetup", "can collect at {mrt} MRT?"),
    ("meetup", "Meet at {mrt} station exit B at {time}?"),
    ("meetup", "Self collect at your place can? I stay near {mrt}"),
    ("meetup", "can meet at Bugis tmr 7pm?"),
    ("meetup", "I can come down to your shop at {postal}?"),
    ("meetup", "I'm at {mrt} control station now, wearing blue shirt"),
    ("meetup", "running 10 min late, sorry! train delay at {mrt}"),
    ("price", "How much for {n} pcs?"),
    ("price", "Can do ${price}? Student here"),
    ("price", "Last price? {price} can?"),
    ("price", "Can nego a bit? 多少钱最低?"),
    ("price", "$ {cents} inclusive of delivery?"),
    ("price", "Bundle {n} for ${price} ok?"),
    ("price", "cheaper leh, can do {price}?"),
    ("price", "Is the price S${cents} before or after GST?"),
    ("price", "Is the price negotiable if I pay now?"),
    ("order_number", "Order #{order} arrived damaged, how to return?"),
    ("order_number", "I placed order {order} by mistake, can cancel?"),
    ("order_number", "Re order #{order}: wrong colour sent"),
    ("order_number", "Ordered {n} but received {n2}, order no {order}"),
    ("order_number", "Invoice for order #{order} pls, need for claims"),
    ("postal_code", "Do you deliver to {postal}?"),
    ("postal_code", "My address is {blk} Tampines St 21 #{unit} Singapore {postal}"),
    ("postal_code", "postal code {postal} is within your delivery zone?"),
    ("postal_code", "Send to {blk} Ang Mo Kio Ave 3, S({postal}) thanks"),
    ("on_platform_payment", "I just paid through the app, pls check"),
    ("on_platform_payment", "Paid via checkout with PayNow already, order #{order}"),
    ("on_platform_payment", "Can I use PayNow at checkout or only card?"),
    ("on_platform_payment", "checkout got PayNow option or not?"),
    ("on_platform_payment", "Payment done on Palisade, thanks!"),
    ("on_platform_payment", "The app charged me twice for order #{order}, can refund?"),
    ("on_platform_payment", "Can I pay by card in the app? My PayLah not working"),
    ("on_platform_payment", "I'll pay through the platform so got buyer protection"),
    ("on_platform_payment", "I'll pay now, just placed the order"),
    ("on_platform_payment", "paid already via the app, when ship?"),
    ("platform_link", "Is this the same as https://palisade.sg/p/{code}?"),
    ("platform_link", "I saw this on palisade.sg/store/{handle}, still available?"),
    ("platform_link", "Sent you a link to my cart: https://shop.palisade.sg/cart/{code}"),
    ("platform_link", "this one https://www.palisade.sg/listing/{order} got blue colour?"),
    ("condition", "Any scratches on the screen?"),
    ("condition", "Battery health how many percent?"),
    ("condition", "Still under warranty until {date}?"),
    ("condition", "Is it authentic? Got receipt?"),
    ("condition", "Still got box and charger?"),
    ("condition", "used how long already? any dents?"),
    ("condition", "can send more photos of the sole here?"),
    ("stock", "Got stock for the blue one?"),
    ("stock", "When restock ah?"),
    ("stock", "Have the 256GB version?"),
    ("stock", "Is the pre-order arriving in {date}?"),
    ("stock", "{item} still available?"),
    ("stock", "left how many? want {n}"),
    ("returns", "Can exchange if size doesn't fit?"),
    ("returns", "How to return? Item arrived broken"),
    ("returns", "Refund processed already? Order #{order}"),
    ("returns", "return window is 7 days or 14?"),
    ("chat", "Received, thanks boss! 👍"),
    ("chat", "Thank you, very fast delivery"),
    ("chat", "Ok noted with thanks"),
    ("chat", "Wah shiok, quality very good"),
    ("chat", "paiseh late reply, just saw msg"),
    ("chat", "ok can, see you tmr"),
    ("chat", "Tq, will leave a review"),
    ("chat", "alamak wrong item, never mind I keep"),
    ("chat", "hello? still there anot"),
    ("chat", "can, no problem lah"),
    ("mixed_language", "这个还有吗?"),
    ("mixed_language", "可以寄到 Woodlands 吗?"),
    ("mixed_language", "boleh hantar ke Pasir Ris?"),
    ("mixed_language", "berapa harga untuk {n}?"),
    ("mixed_language", "terima kasih, barang sampai dah"),
    ("mixed_language", "nandri, item received"),
    ("mixed_language", "Can or not ah, 明天可以拿吗?"),
    ("mixed_language", "谢谢老板, very nice"),
    ("mixed_language", "saiz M ada lagi?"),
    ("urgency_legit", "Urgent: need it by {date} for my daughter's birthday, can?"),
    ("urgency_legit", "Need asap leh, can express delivery?"),
    ("urgency_legit", "Hurry pls, I need it before I fly on {date}"),
    ("urgency_legit", "Please rush order #{order}, event this weekend"),
    ("urgency_legit", "last minute gift, can reach by tmr?"),
    ("numbers", "Dimensions 120 x 60 x 75 cm right?"),
    ("numbers", "Is it model {model}?"),
    ("numbers", "Bought {n} units in 2023, want another 2"),
    ("numbers", "What time you open? 10am to 9pm?"),
    ("numbers", "My unit is #{unit}, blk {blk}, postal {postal}, pls call the guard if no one home"),
    ("numbers", "Is the fan 3 speed or 5 speed?"),
    ("numbers", "Voucher code SAVE10 can use?"),
    ("numbers", "Store hours 10.30am - 9.30pm?"),
    ("numbers", "Weight is 2.5kg?"),
    ("numbers", "item code {sku} same as the one in the photo?"),
    ("numbers", "SKU {sku} got in black?"),
    ("numbers", "Year 2019 model or 2021?"),
    ("numbers", "The serial number starts with {sku}, is that the SG set?"),
    ("numbers", "1TB or 512GB? and RAM 16 or 32?"),
    ("mentions", "My friend sent me this listing on WhatsApp, still available?"),
    ("mentions", "Saw your post in the Telegram group, is it the same item?"),
    ("mentions", "Is PayNow accepted at checkout?"),
    ("mentions", "I'll call the courier tomorrow, thanks"),
    ("mentions", "Is the phone number on the receipt needed for warranty?"),
    ("mentions", "does the phone support WhatsApp video calls?"),
    ("mentions", "got scammed on another app before, glad this one has buyer protection"),
    ("mentions", "the QR code on the box is for warranty registration right?"),
    ("mentions", "call me when you reach the lobby ok"),
    ("mentions", "pls don't call, just message here, I'm in office"),
    ("mentions", "which bank's card gets the 10% off at checkout?"),
    ("mentions", "is the bank transfer option in the app safe? never used before"),
    ("mentions", "can the courier call my number in the order when they reach?"),
    ("mentions", "my contact is in the order details already"),
    ("mentions", "website says out of stock but app says available, which one correct?"),
    ("size", "my son is 8 years old, 130cm, which size?"),
    ("size", "shoe 9 or 9.5 for wide feet?"),
    ("size", "waist 28, hips 36, which one"),
    ("size", "got kids size? 4-5 years"),
    ("delivery", "Can send to my office at Raffles Place instead?"),
    ("delivery", "Deliver on Sat 9am-12pm possible?"),
    ("delivery", "Item is 2 days late, any update?"),
    ("delivery", "does the delivery include installation?"),
    ("delivery", "can ship to JB? or only SG"),
    ("delivery", "Pls send before 3pm, my mum is home until then"),
    ("delivery", "I'm overseas till {date}, can hold the parcel?"),
    ("meetup", "Can meet halfway? I'm at {mrt}, you at {mrt}?"),
    ("meetup", "Collect at the void deck of blk {blk}?"),
    ("meetup", "cash on collection ok? meet {mrt} {time}"),
    ("meetup", "I'll send my brother to collect, he's tall wearing cap"),
    ("price", "Is it {n} for ${price} or each?"),
    ("price", "Selling at S$8,888? Too expensive leh"),
    ("price", "Got student discount?"),
    ("price", "price include GST? company need tax invoice"),
    ("price", "${price} firm ah? cannot lower?"),
    ("price", "If I buy {n} got free shipping?"),
    ("price", "Saw it for ${cents} elsewhere, can match?"),
    ("order_number", "order no. {sku} status pls"),
    ("order_number", "Can combine order #{order} and #{order} into one delivery?"),
    ("order_number", "Please update address for order {order} to {postal}"),
    ("order_number", "I got 2 confirmation emails for #{order}, is it double order?"),
    ("condition", "Any dead pixels?"),
    ("condition", "how many shutter count?"),
    ("condition", "is it the Singapore set or export set?"),
    ("condition", "Does it come with the 3 pin plug?"),
    ("condition", "any smell? I have allergy"),
    ("stock", "when is the 11.11 sale starting?"),
    ("stock", "Can reserve for me till {date}? will checkout in the app"),
    ("stock", "any other colours besides black and white?"),
    ("returns", "item wrong size, how to exchange? I keep the tags"),
    ("returns", "Refund to original card or store credit?"),
    ("returns", "Missing 1 piece from the set of {n}, can send?"),
    ("chat", "ok thanks! will check out later tonight"),
    ("chat", "Wah so fast reply, thanks!"),
    ("chat", "haha ok, no worries"),
    ("chat", "Happy CNY boss! Huat ah"),
    ("chat", "Selamat Hari Raya! any promo?"),
    ("chat", "Happy Deepavali, is the shop open on PH?"),
    ("chat", "Sorry ah, sibei busy today, reply tmr"),
    ("chat", "good morning, is the seller in?"),
    ("mixed_language", "请问有 XL 吗?"),
    ("mixed_language", "包邮吗? 送到 Sengkang"),
    ("mixed_language", "ada warna lain tak?"),
    ("mixed_language", "barang ni original ke?"),
    ("mixed_language", "enna size irukku? M or L"),
    ("mixed_language", "Can 明天 deliver 吗? urgent leh"),
    ("mixed_language", "这个 warranty 多久?"),
    ("urgency_legit", "quick question before I checkout: is it the 2024 version?"),
    ("urgency_legit", "pls reply fast, I want to order before the sale ends at midnight"),
    ("urgency_legit", "Need 10 pcs urgently for company event on {date}, got stock?"),
    ("numbers", "Room size 3 x 4m, is the rug enough?"),
    ("numbers", "Is it 240V? Singapore plug"),
    ("numbers", "Battery 5000mAh or 4500mAh?"),
    ("numbers", "Fits a 13 inch laptop? mine is 30.4 x 21.5 cm"),
    ("numbers", "born 2015, which lego set suitable?"),
    ("numbers", "Blk {blk} Bedok North Rd #{unit} S{postal}"),
    ("numbers", "Tracking {tracking} says held at customs, need to pay GST?"),
    ("numbers", "my order total was ${cents} but charged ${cents}?"),
]


OPENERS = ["", "", "", "Hi, ", "Hello ", "hi boss, ", "Hey! ", "Hi there. ", "hello, ", "Dear seller, "]
CLOSERS = ["", "", "", " thanks", " tq", " 🙏", " thank you!", " pls", " ya", " :)"]
# A scam line often follows an ordinary one: "Yes still available. <scam>".
LEADS = ["Yes still available. ", "Item still got. ", "Ok can. ", "Sure, brand new. ", "Hi dear, ",
         "Thanks for your interest! ", "Can, I reserve for you. "]


def decorate(text, label):
    if label == "flag" and R.random() < 0.25:
        text = R.choice(LEADS) + text
    return R.choice(OPENERS) + text + R.choice(CLOSERS)


def emit(templates, label, held, per, seen, out):
    for i, (cat, t) in enumerate(templates):
        if (i % 2 == 1) != held:
            continue
        made = 0
        for _ in range(per * 8):
            text = decorate(fill(t, held), label).replace("\t", " ")
            if text in seen:
                continue
            seen.add(text)
            out.append((label, cat, text))
            made += 1
            if made == per:
                break


def main():
    seen = set()
    print("# Labelled buyer-seller messages for palisade_trust::messages. Written by the team from hand-written")
    print("# templates (gen_messages.py fills the slots; do not edit by hand, regenerate). label<TAB>category<TAB>text")
    print("# label: flag = the buyer must be warned or the message blocked; ok = must not be flagged.")
    for held in (False, True):
        out = []
        emit(FLAG, "flag", held, 4, seen, out)
        emit(OK, "ok", held, 4, seen, out)
        R.shuffle(out)
        print("#split held-out" if held else "#split dev")
        for row in out:
            print("\t".join(row))


main()
