"""First content of the help/policy pages and the eSIM device list. Staff edit it in the admin
from here on; re-running never overwrites an edited row (get_or_create by slug / model)."""
from django.db import migrations

REFUND_DAYS = 3

PAGES = [
    # slug, order, (title_mn, title_en), (summary_mn, summary_en), body_mn, body_en
    ("faq", 10, ("Түгээмэл асуулт", "Questions and answers"),
     ("eSIM гэж юу вэ, хэзээ суулгах, хэрхэн төлөх, юу болох вэ.", "What an eSIM is, when to install it, how to pay, what happens next."),
     """## eSIM гэж юу вэ?
Утсанд суулгадаг цахим SIM карт. Физик карт солих шаардлагагүй: QR код уншуулаад л болно. Таны Mobicom, Unitel, Skytel, G-Mobile SIM хэвээр үлдэнэ.

## Утас маань eSIM дэмждэг үү?
*#06# залгахад EID гэсэн мөр гарвал дэмждэг. Утас тань операторт түгжээгүй байх ёстой. Дэмждэг утаснуудын жагсаалтыг "Утасны тохирол" хуудаснаас харна уу.

## Хэзээ суулгах вэ?
Нисэхээсээ өмнө, Wi-Fi-д холбогдсон үедээ суулгаарай. Ихэнх багцын хугацаа очсон газартаа анх сүлжээнд холбогдоход эхэлнэ.

## Утасны дугаар өгөх үү?
Үгүй. Энэ нь зөвхөн дата багц: дуудлага, SMS-ийн дугааргүй. Messenger, WhatsApp, Telegram-аар ярьж болно.

## Хэрхэн төлөх вэ?
QPay-ээр төгрөгөөр: банкны аппаараа QR код уншуулна. Төлбөр баталгаажмагц eSIM тань хуудсан дээр болон и-мэйлээр ирнэ.

## Дутуу эсвэл давхар төлчихвөл?
Дутуу төлсөн бол төлбөрийн хуудас үлдэгдлийг л шинэ QR кодоор санал болгоно, эсвэл цуцалж мөнгөө буцааж авч болно. Давхар төлсөн илүү мөнгийг %(days)s ажлын өдрийн дотор буцаана.""" % {"days": REFUND_DAYS},
     """## What is an eSIM?
A digital SIM card built into your phone. Nothing to swap: you scan a QR code. Your Mobicom, Unitel, Skytel or G-Mobile SIM stays where it is.

## Does my phone take an eSIM?
Dial *#06#: if the screen shows a line called EID, it does. The phone must also be unlocked (not tied to one operator). See the list on the phone compatibility page.

## When do I install it?
Before you fly, while you are on Wi-Fi. For most plans the validity starts when the eSIM first connects to a network at your destination.

## Do I get a phone number?
No. These are data-only plans: no number for calls or SMS. Messenger, WhatsApp and Telegram calls work.

## How do I pay?
With QPay, in tugrik: scan the QR code with your bank app. Your eSIM appears on the page and in your e-mail as soon as the payment is confirmed.

## I paid too little or twice?
Paid too little: the payment page offers only the rest, with a new QR code, or cancel and get your money back. Paid twice: we return the extra within %(days)s working days.""" % {"days": REFUND_DAYS}),
    ("compatibility", 20, ("Утасны тохирол", "Phone compatibility"),
     ("Таны утас eSIM дэмждэг эсэх, түгжээгүй эсэхийг хэрхэн шалгах.", "How to check that your phone takes an eSIM and is unlocked."),
     """## Шалгах хоёр зүйл
- Утас eSIM дэмждэг: *#06# залгахад EID (32 оронтой тоо) гарч ирнэ.
- Утас түгжээгүй: өөр операторын SIM хийхэд ажилладаг.

## Дэмждэггүй утас худалдаж авбал
Суулгаагүй eSIM-ийн мөнгийг бүтэн буцаана: биднээс худалдаж авснаас хойш 30 хоногийн дотор, eSIM-ийг суулгаагүй бол. Суулгасан eSIM-ийг буцаах боломжгүй. Хятад, Хонконг, Макаод зарагдсан ихэнх iPhone eSIM-гүй байдаг.""",
     """## Two things to check
- The phone takes an eSIM: dial *#06# and look for an EID (a 32-digit number).
- The phone is unlocked: a SIM card from another operator works in it.

## If your phone turns out not to take an eSIM
We refund an eSIM that was never installed in full, within 30 days of purchase. An installed eSIM cannot be refunded. Most iPhones sold in mainland China, Hong Kong and Macau have no eSIM."""),
    ("install", 30, ("Суулгах заавар", "Install guide"),
     ("iPhone, Samsung, Pixel дээр eSIM суулгах, гадаадад асаах, асуудал гарвал.", "Installing the eSIM on iPhone, Samsung and Pixel, switching it on abroad, troubleshooting."),
     """## Нисэхээсээ өмнө, Wi-Fi дээр
eSIM-ээ гэртээ эсвэл нисэх онгоцны буудалд Wi-Fi-д холбогдсон үедээ суулгаарай. QR код ихэвчлэн нэг л удаа ажилладаг: суулгасан eSIM-ээ бүү устгаарай.

## iPhone
- Тохиргоо → Үүрэн холбоо (Cellular) → eSIM нэмэх (Add eSIM).
- "QR код ашиглах" гэж сонгоод eSIM хуудасны QR кодыг уншуулна.
- Нэр өгнө, жишээ нь "Аялал".

## Samsung Galaxy
- Тохиргоо → Холболт → SIM менежер → eSIM нэмэх.
- "QR кодоор уншуулах"-ыг сонгоно.

## Google Pixel
- Тохиргоо → Сүлжээ ба интернэт → SIM → eSIM татах.
- QR кодыг уншуулна.

## Очсон газартаа
- eSIM-д "Дата роуминг"-ийг АСААНА.
- Гэрийн (Mobicom, Unitel, Skytel, G-Mobile) SIM-ийн дата роумингийг УНТРААНА: эс бөгөөс гэрийн оператор тань роумингийн төлбөр авна.
- Мобайл датаг eSIM-ээр сонгоно.

## Асуудал гарвал
- "QR код аль хэдийн ашиглагдсан": eSIM өмнө нь суусан байна, Тохиргоонд байгаа эсэхийг шалгана уу, эсвэл бидэнтэй холбогдоно уу.
- Очоод сүлжээ алга: утсаа унтрааж асаана, дата роуминг асаалттай эсэхийг шалгана, сүлжээг гараар сонгоно.
- Интернэт алга: APN-г eSIM хуудсанд бичсэнээр тохируулна (ихэвчлэн автоматаар тохирдог).""",
     """## Before you fly, on Wi-Fi
Install the eSIM at home or at the airport while you are on Wi-Fi. The QR code usually works only once: do not delete the eSIM after installing it.

## iPhone
- Settings → Cellular (Mobile Data) → Add eSIM.
- Choose "Use QR Code" and scan the QR code on your eSIM page.
- Give it a name, e.g. "Travel".

## Samsung Galaxy
- Settings → Connections → SIM manager → Add eSIM.
- Choose "Scan QR code".

## Google Pixel
- Settings → Network & internet → SIMs → Download a SIM instead.
- Scan the QR code.

## When you land
- Turn data roaming ON for the eSIM.
- Turn data roaming OFF for your home SIM (Mobicom, Unitel, Skytel, G-Mobile): otherwise your home operator charges roaming.
- Choose the eSIM for mobile data.

## Troubleshooting
- "QR code already used": the eSIM was installed before; look for it in Settings, or contact us.
- No signal on arrival: restart the phone, check that data roaming is on for the eSIM, choose a network by hand.
- No internet: set the APN as your eSIM page shows (it is usually set automatically)."""),
    ("refund", 40, ("Буцаалтын нөхцөл", "Refund policy"),
     ("Хэзээ, хэрхэн мөнгө буцаах вэ.", "When and how we refund."),
     """## Бүтэн буцаана
- Суулгаагүй eSIM: худалдаж авснаас хойш 30 хоногийн дотор.
- Таны утас eSIM дэмждэггүй байсан ба eSIM-ийг суулгаагүй бол.
- Бид eSIM-ийг хүргэж чадаагүй бол.

## Илүү ба дутуу төлбөр
Давхар эсвэл илүү төлсөн мөнгө, дутуу төлөөд цуцалсан мөнгийг бид өөрсдөө буцаана: хүсэлт гаргах шаардлагагүй.

## Хэрхэн, хэзээ
Мөнгийг таны төлсөн данс эсвэл картад %(days)s ажлын өдрийн дотор буцаана. Асуух зүйл байвал "Холбоо барих" хуудсаар хандана уу.

## Буцаахгүй
Суулгасан эсвэл дата хэрэглэсэн eSIM.""" % {"days": REFUND_DAYS},
     """## Full refund
- An eSIM that was never installed: within 30 days of purchase.
- Your phone turned out not to take an eSIM, and the eSIM was not installed.
- We could not deliver the eSIM.

## Extra and short payments
Money paid twice or too much, and a short payment you cancelled, we return by ourselves: you do not need to ask.

## How and when
To the account or card you paid from, within %(days)s working days. Questions: see the contact page.

## No refund
An eSIM that was installed or has used data.""" % {"days": REFUND_DAYS}),
    ("terms", 50, ("Үйлчилгээний нөхцөл", "Terms of service"),
     ("esimshop-оос eSIM худалдан авах нөхцөл.", "The terms of buying an eSIM from esimshop."),
     """## Үйлчилгээ
esimshop нь гадаадад ашиглах дата eSIM-ийг eSIM Go-оор дамжуулан зарна. Сүлжээний чанар, хурд тухайн улсын операторын сүлжээнээс хамаарна.

## Үнэ ба төлбөр
Үнэ төгрөгөөр, QPay-ээр төлнө. Төлбөр баталгаажсаны дараа eSIM-ийг хүргэнэ.

## Хугацаа
Багцын хугацаа, датаны хэмжээ багцын хуудсанд бичигдсэн. Хугацаа дуусахад эсвэл дата дуусахад интернэт зогсоно; ижил eSIM-ээ цэнэглэж болно.

## Буцаалт
"Буцаалтын нөхцөл" хуудсыг үзнэ үү.""",
     """## The service
esimshop sells data eSIMs for use abroad, supplied through eSIM Go. Coverage and speed depend on the local operators' networks.

## Prices and payment
Prices are in tugrik, paid with QPay. The eSIM is delivered once the payment is confirmed.

## Validity
Each plan's data and validity are on its page. When the time or the data runs out, the internet stops; you can top up the same eSIM.

## Refunds
See the refund policy."""),
    ("privacy", 60, ("Нууцлал", "Privacy"),
     ("Бид ямар мэдээлэл хадгалж, юунд ашигладаг вэ.", "What we keep about you and why."),
     """## Бидний хадгалах мэдээлэл
- Утасны дугаар, и-мэйл: худалдан авалтыг тань таних, eSIM болон баримт илгээхэд.
- Төлбөрийн мэдээлэл QPay-ээс: төлбөр баталгаажуулах, буцаалт хийхэд. Картын дугаар бидэнд ирдэггүй.
- eSIM-ийн ICCID, хэрэглэсэн дата: "Миний eSIM"-д харуулахад.

## Хуваалцах
eSIM Go-д eSIM захиалахад шаардлагатай хэмжээгээр л. Бид мэдээллийг тань зардаггүй.

## Устгах
Мэдээллээ устгуулах бол "Холбоо барих" хуудсаар хандана уу.""",
     """## What we keep
- Phone number and e-mail: to identify your purchase and send the eSIM and receipt.
- Payment details from QPay: to confirm payments and make refunds. We never receive card numbers.
- The eSIM's ICCID and data used: to show them in My eSIMs.

## Sharing
Only what eSIM Go needs to supply the eSIM. We never sell your data.

## Deletion
To have your data deleted, write to us (see the contact page)."""),
    ("contact", 70, ("Холбоо барих", "Contact us"),
     ("Манай компани ба холбоо барих хаяг.", "Our company and how to reach us."),
     """## Холбоо барих
- И-мэйл: support@esimshop.mn
- Ажлын цаг: Даваа–Баасан 09:00–18:00 (Улаанбаатарын цагаар)

## Компани
esimshop, Улаанбаатар, Монгол Улс.""",
     """## Contact
- E-mail: support@esimshop.mn
- Hours: Monday–Friday 09:00–18:00 (Ulaanbaatar time)

## Company
esimshop, Ulaanbaatar, Mongolia."""),
]

DEVICES = [
    ("Apple", "iPhone XR, XS, XS Max", "", ""),
    ("Apple", "iPhone 11, 11 Pro, 11 Pro Max", "", ""),
    ("Apple", "iPhone SE (2020, 2022)", "", ""),
    ("Apple", "iPhone 12, 13, 14, 15, 16 (all models)", "Хятад, Хонконг, Макаод зарагдсанаас бусад",
     "except models sold in mainland China, Hong Kong and Macau"),
    ("Apple", "iPad Pro, Air, mini (Wi-Fi + Cellular)", "", ""),
    ("Samsung", "Galaxy S20, S21, S22, S23, S24, S25 (all models)", "", ""),
    ("Samsung", "Galaxy Z Flip and Z Fold (all models)", "", ""),
    ("Samsung", "Galaxy Note 20", "", ""),
    ("Samsung", "Galaxy A54, A55", "Зарим бүс нутгийн загвар", "some regional models"),
    ("Google", "Pixel 3, 3a and newer", "Pixel 3: Японд зарагдсанаас бусад", "Pixel 3: except Japanese models"),
    ("Other", "Xiaomi 12T Pro, 13, 14", "", ""),
    ("Other", "Huawei P40, P40 Pro, Mate 40 Pro", "", ""),
    ("Other", "Motorola Razr (2019 and newer)", "", ""),
    ("Other", "OPPO Find X3 Pro, Find X5, Find X5 Pro", "", ""),
]


def seed(apps, schema_editor):
    HelpPage = apps.get_model("shopinfo", "HelpPage")
    Device = apps.get_model("shopinfo", "Device")
    for slug, order, (title_mn, title_en), (summary_mn, summary_en), body_mn, body_en in PAGES:
        HelpPage.objects.get_or_create(slug=slug, defaults={
            "sort_order": order, "title_mn": title_mn, "title_en": title_en, "summary_mn": summary_mn,
            "summary_en": summary_en, "body_mn": body_mn, "body_en": body_en,
        })
    for order, (brand, model_name, note_mn, note_en) in enumerate(DEVICES):
        Device.objects.get_or_create(brand=brand, model_name=model_name,
                                     defaults={"note_mn": note_mn, "note_en": note_en, "sort_order": order})


class Migration(migrations.Migration):
    dependencies = [("shopinfo", "0001_help_pages_and_devices")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
